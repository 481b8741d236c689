#include "capture/tracee.h"

#include <sched.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>

#include "capture/clock.h"
#include "capture/tracer_thread.h"

namespace stackshot {

Tracee::~Tracee() {
  if (attached_) detach();
}

int Tracee::seize() {
  if (ptrace(PTRACE_SEIZE, tid_, nullptr, nullptr) == -1) return last_errno_ = errno;
  attached_ = true;
  return 0;
}

int Tracee::interrupt() {
  if (ptrace(PTRACE_INTERRUPT, tid_, nullptr, nullptr) == -1) return last_errno_ = errno;
  return 0;
}

StopOutcome Tracee::wait_stop(int64_t deadline_ns) {
  // The stop usually arrives within tens of microseconds: spin with sched_yield first (it lets
  // the target run on a shared core), then back off to short sleeps until the deadline.
  const int64_t spin_until = now_ns() + 200000;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(tid_, &status, __WALL | WNOHANG);
    if (r == -1) {
      if (errno == EINTR) continue;
      last_errno_ = errno;
      if (errno == ECHILD) {  // no longer our tracee: it is gone
        attached_ = false;
        return StopOutcome::kExited;
      }
      return StopOutcome::kFailed;
    }
    if (r == tid_) {
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        attached_ = false;  // the kernel has already unlinked it
        return StopOutcome::kExited;
      }
      if (WIFSTOPPED(status)) {
        stopped_ = true;
        const int event = status >> 16;
        // event 0: signal-delivery stop, the thread dequeued a signal that we must hand back.
        // PTRACE_EVENT_STOP: our interrupt, or a group-stop (SIGSTOP from the user), which the
        // kernel restores by itself on detach.
        if (event == 0) pending_signal_ = WSTOPSIG(status);
        return StopOutcome::kStopped;
      }
      continue;
    }
    const int64_t t = now_ns();
    if (t >= deadline_ns) return StopOutcome::kTimedOut;
    if (t < spin_until) {
      sched_yield();
    } else {
      timespec ts{0, 20000};
      nanosleep(&ts, nullptr);
    }
  }
}

int Tracee::detach() {
  if (!attached_) return 0;
  // Detach works only on a stopped tracee. One that never stopped stays attached here; the
  // capture thread exits right after, and the kernel releases every tracee of an exiting
  // tracer thread (exit_ptrace), clearing the pending interrupt.
  if (!stopped_) {
    note_undetached_tracee();
    return last_errno_ = ESRCH;
  }
  long r = ptrace(PTRACE_DETACH, tid_, nullptr, reinterpret_cast<void*>(static_cast<long>(pending_signal_)));
  attached_ = false;
  stopped_ = false;
  if (r == -1) return last_errno_ = errno;  // ESRCH: it died while stopped (SIGKILL)
  return 0;
}

}  // namespace stackshot
