// One thread under ptrace for the length of a capture: seize, interrupt, wait for the stop,
// detach. Every call for one tracee must come from the same OS thread (the tracer is a thread,
// not a process), and the signal that a stop may have swallowed is handed back on detach.
#pragma once
#include <sys/types.h>

#include <cstdint>

namespace stackshot {

enum class StopOutcome {
  kStopped,   // in a ptrace stop: registers and memory may be read
  kExited,    // the thread is gone (exited, or the process exec'd)
  kTimedOut,  // did not stop before the deadline (e.g. uninterruptible sleep in D state)
  kFailed,    // waitpid failed; errno in last_errno()
};

class Tracee {
 public:
  explicit Tracee(pid_t tid) : tid_(tid) {}
  ~Tracee();  // detaches if still attached: no path may leave the thread held
  Tracee(const Tracee&) = delete;
  Tracee& operator=(const Tracee&) = delete;

  // PTRACE_SEIZE: attaches without stopping. Returns 0 or errno (ESRCH: gone; EPERM: refused).
  int seize();
  // PTRACE_INTERRUPT: asks the thread to stop. Returns 0 or errno.
  int interrupt();
  // Waits until the thread is in a ptrace stop, or the monotonic deadline passes.
  StopOutcome wait_stop(int64_t deadline_ns);
  // PTRACE_DETACH, re-injecting a signal that was caught in a signal-delivery stop.
  int detach();

  pid_t tid() const { return tid_; }
  bool attached() const { return attached_; }
  bool stopped() const { return stopped_; }
  int last_errno() const { return last_errno_; }
  // The signal handed back on detach (0 if none).
  int pending_signal() const { return pending_signal_; }

 private:
  pid_t tid_;
  bool attached_ = false;
  bool stopped_ = false;
  int pending_signal_ = 0;
  int last_errno_ = 0;
};

}  // namespace stackshot
