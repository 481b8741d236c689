#include "capture/tracee.h"

#include <sched.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>

#include "capture/clock.h"
#include "capture/exec_guard.h"
#include "capture/tracee_events.h"
#include "capture/tracer_thread.h"

namespace stackshot {

Tracee::~Tracee() {
  if (attached_) detach();
}

int Tracee::seize() {
  // PTRACE_SEIZE waits for an execve under way in the target, which may wait for us to reap
  // the tracees it killed: the guard has them reaped meanwhile (capture/exec_guard.h).
  ExecGuard guard;
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
  // the target run on a shared core), then back off to short sleeps until the deadline. All
  // notifications go through the thread's waiter (capture/tracee_events.h).
  TraceeEvents& events = tracee_events();
  const int64_t spin_until = now_ns() + 200000;
  for (;;) {
    events.drain();
    int status = 0;
    if (events.take_stop(tid_, &status)) {
      stopped_ = true;
      const int event = status >> 16;
      // event 0: signal-delivery stop, the thread dequeued a signal that we must hand back.
      // PTRACE_EVENT_STOP: our interrupt, or a group-stop (SIGSTOP from the user), which the
      // kernel restores by itself on detach.
      if (event == 0) pending_signal_ = WSTOPSIG(status);
      return StopOutcome::kStopped;
    }
    if (events.exited(tid_) || (events.none_left() && attached_)) {
      attached_ = false;  // reaped, or let go by the kernel (its leader's execve)
      return StopOutcome::kExited;
    }
    const int64_t t = now_ns();
    if (t >= deadline_ns) return StopOutcome::kTimedOut;
    if (t < spin_until) {
      sched_yield();
    } else {
      // No task has this id any more: the thread that called execve takes over the leader's
      // id, so no notification will come under this one. It stays marked attached: if it is
      // still ours under its new id, the end of the job makes the tracer thread let it go.
      if (kill(tid_, 0) == -1 && errno == ESRCH) return StopOutcome::kExited;
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
  if (r == -1) {
    last_errno_ = errno;
    // ESRCH: it died in its stop (SIGKILL, exit of the process, an execve elsewhere). A dead
    // tracee stays a zombie until we reap it -- its parent, or an execve, would wait forever.
    if (!tracee_events().reap(tid_, 100000000)) note_undetached_tracee();
    return last_errno_;
  }
  return 0;
}

}  // namespace stackshot
