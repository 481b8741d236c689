// The two /proc files that let a blocked thread be read without stopping it:
//   syscall    "nr arg0..arg5 sp pc" while the thread sleeps in a system call (the kernel
//              checks it is off the CPU before and after reading its saved user registers);
//              "running" for a thread on a CPU; "-1 sp pc" in the kernel outside a syscall
//   schedstat  "run_ns wait_ns timeslices": timeslices counts every switch onto a CPU
// Each read is a fresh report. Reading them passes the same access check as PTRACE_ATTACH.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "capture/held_task_files.h"

namespace stackshot {

// One read of a task file, NUL-terminated.
struct TaskText {
  char text[256] = {};
  size_t size = 0;
  bool operator==(const TaskText& o) const;
};

// The task's file as it reads now (held open between reads: capture/held_task_files.h);
// false when it cannot be read or does not fit.
bool read_task_text(pid_t pid, pid_t tid, TaskFileKind kind, TaskText* out);

struct SyscallState {
  bool running = false;  // on a CPU: nothing was read
  int64_t nr = -1;       // -1: in the kernel, but not in a system call
  uint64_t sp = 0;
  uint64_t pc = 0;
};

// Whether /proc/<pid>/task/<tid>/status names a tracer (TracerPid other than 0). Returns false
// when it cannot be read.
bool read_traced(pid_t pid, pid_t tid, bool* traced);

// Parses the syscall file's text. Returns false when it is malformed.
bool parse_syscall_file(const char* text, SyscallState* out);

// The third schedstat field: how many times the thread was switched onto a CPU. Returns false
// when it is malformed or 0 (scheduler statistics off: nothing can be proven from it).
bool parse_timeslices(const char* text, uint64_t* out);

}  // namespace stackshot
