// The exec deadlock, and what breaks it. An execve in a multithreaded target kills the other
// threads and waits in de_thread, holding the process's cred_guard_mutex, until each one is
// released. A thread we trace that dies stays a zombie until we (its tracer) reap it. And
// PTRACE_SEIZE waits for that same mutex -- with every signal blocked on the tracer thread,
// for good. A tracer that seizes while it holds a tracee the exec just killed waits for the
// exec, which waits for the tracer: both frozen until our process dies.
//
// While the tracer thread is inside such a call, an ExecGuard lets a reaper thread reap the
// tracer's dead tracees in the target (a sibling thread may wait for them), so the exec ends
// and the call returns. The guard costs two atomic stores when nothing blocks; the reaper only
// wakes up while a capture is armed (ExecReaperArm) and acts once a guarded call has lasted
// longer than any seize should (kGuardGraceNs).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace stackshot {

// Keeps the reaper watching `pid` for the lifetime of one capture (armed before the first stop).
class ExecReaperArm {
 public:
  explicit ExecReaperArm(pid_t pid);
  ~ExecReaperArm();
  ExecReaperArm(const ExecReaperArm&) = delete;
  ExecReaperArm& operator=(const ExecReaperArm&) = delete;
};

// Marks the calling tracer thread as inside a call that may wait for an execve of the armed
// pid (PTRACE_SEIZE). When it ends, the tracees the reaper reaped meanwhile are handed to the
// tracer's waiter (capture/tracee_events.h) as exited.
class ExecGuard {
 public:
  ExecGuard();
  ~ExecGuard() { finish(); }
  ExecGuard(const ExecGuard&) = delete;
  ExecGuard& operator=(const ExecGuard&) = delete;
  // Ends the guard; returns how many dead tracees the reaper had to reap (an exec was under way).
  size_t finish();

 private:
  bool finished_ = false;
};

// How many dead tracees ExecGuards have had reaped so far (a change: an exec was under way).
uint64_t exec_guard_reaps();

// What changes with every execve of pid: its auxiliary vector (entry point, program headers,
// AT_RANDOM's address on the fresh stack). Empty if it cannot be read. Compared before and after
// a capture, it tells whether the process exec'd meanwhile.
std::string image_identity(pid_t pid);

}  // namespace stackshot
