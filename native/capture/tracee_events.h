// Every notification about the tracer thread's tracees goes through one waiter. A stop belongs
// to the Tracee waiting for it and is kept until taken; an exit is reaped on the spot. That
// matters: a traced thread that dies stays a zombie until its tracer reaps it, and an execve in
// the target waits (in de_thread, holding the lock PTRACE_SEIZE needs) until every other thread
// of the process is reaped. __WNOTHREAD keeps the waiter to this thread's own tracees: the
// process's other children (libuv's) are never touched.
#pragma once
#include <sys/types.h>

#include <map>
#include <set>

namespace stackshot {

class TraceeEvents {
 public:
  // Collects every pending notification without blocking; exits are reaped, stops kept.
  void drain();
  // Takes the pending stop status of tid, if any.
  bool take_stop(pid_t tid, int* status);
  // Records an exit reaped by another thread for ours (capture/exec_guard.h).
  void note_reaped(pid_t tid) {
    exited_.insert(tid);
    stops_.erase(tid);
  }
  // Whether tid's exit has been reaped.
  bool exited(pid_t tid) const { return exited_.count(tid) != 0; }
  // Whether this thread traces nothing at all any more (waitpid said ECHILD). A leader killed
  // by another thread's execve is let go without a death notice: this is how we learn it.
  bool none_left() const { return none_left_; }
  // Waits (up to timeout_ns) for tid's exit to be reaped: after a detach that failed because
  // the thread died in its stop. Returns false if it was not seen in time.
  bool reap(pid_t tid, long timeout_ns);
  // End of a job: detaches any tracee whose stop nobody took, reaps what died. Returns false
  // if a tracee is still held (attached but not stopped): the tracer thread must then retire.
  bool release_all();

 private:
  std::map<pid_t, int> stops_;
  std::set<pid_t> exited_;
  bool none_left_ = false;
};

// The waiter of the calling thread (ptrace ties tracees to the tracer thread).
TraceeEvents& tracee_events();

}  // namespace stackshot
