// A running thread's registers and stack without stopping it: one sample of a software clock
// event on that thread, taken by the kernel at a timer tick while the thread runs, then the
// event is closed. The target pays one timer interrupt and one copy of its stack in the kernel.
#pragma once
#include <sys/types.h>

#include <cstdint>

#include "capture/arena.h"
#include "capture/capture.h"

namespace stackshot {

enum class PerfOutcome {
  kSampled,   // t holds registers and stack (t.path = kPerf, t.pause_ns = 0)
  kRefused,   // perf events are not allowed here (errno in *err): do not try again this capture
  kNoSample,  // the thread blocked, exited or did not run before the deadline: capture it another way
  kUnusable,  // the sample cannot stand for the thread (a 32-bit task, a malformed record)
};

// t: the thread (tid and state already filled). Waits at most until deadline_ns (monotonic).
// stack_bytes caps the copy (at most 63 KiB).
PerfOutcome sample_running_thread(pid_t pid, ThreadCapture* t, size_t stack_bytes, int64_t deadline_ns, Arena* arena,
                                  int* err);

}  // namespace stackshot
