// The blocked path: a thread asleep in a system call is captured without a stop. Its pc and sp
// come from /proc/<pid>/task/<tid>/syscall, its stack is copied while it sleeps, and the copy
// is kept only when the kernel's own counters prove the thread did not run meanwhile.
// Only pc and sp are known: the walk must not need any other register (the TS side captures
// a thread whose walk does again with ptrace).
#pragma once
#include "capture/paths.h"

namespace stackshot {

// A StopFreePath. Refusals: "running", "traced", "not-in-syscall", "ran-during-copy",
// "unreadable", "no-schedstat".
const char* capture_blocked(const PathContext& c, ThreadCapture& t);

}  // namespace stackshot
