#include "capture/tracee_events.h"

#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include <cerrno>

#include "capture/clock.h"

namespace stackshot {

TraceeEvents& tracee_events() {
  static thread_local TraceeEvents events;
  return events;
}

void TraceeEvents::drain() {
  for (;;) {
    int status = 0;
    pid_t r = waitpid(-1, &status, __WALL | __WNOTHREAD | WNOHANG);
    if (r == -1 && errno == EINTR) continue;
    none_left_ = r == -1 && errno == ECHILD;
    if (r <= 0) return;  // 0: nothing pending; ECHILD: no tracees at all
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      exited_.insert(r);
      stops_.erase(r);
    } else if (WIFSTOPPED(status)) {
      stops_[r] = status;
    }
  }
}

bool TraceeEvents::take_stop(pid_t tid, int* status) {
  auto it = stops_.find(tid);
  if (it == stops_.end()) return false;
  *status = it->second;
  stops_.erase(it);
  return true;
}

bool TraceeEvents::reap(pid_t tid, long timeout_ns) {
  const int64_t deadline = now_ns() + timeout_ns;
  for (;;) {
    drain();
    if (exited(tid)) return true;
    if (now_ns() >= deadline) return false;
    timespec ts{0, 100000};
    nanosleep(&ts, nullptr);
  }
}

bool TraceeEvents::release_all() {
  drain();
  for (const auto& [tid, status] : stops_) {
    // A stop nobody took (a thread whose capture gave up): let it go, handing back the signal
    // of a signal-delivery stop.
    const int sig = (status >> 16) == 0 ? WSTOPSIG(status) : 0;
    ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
  }
  stops_.clear();
  exited_.clear();
  drain();
  int status = 0;
  pid_t r;
  do {
    r = waitpid(-1, &status, __WALL | __WNOTHREAD | WNOHANG);
  } while (r == -1 && errno == EINTR);
  // ECHILD: this thread traces nothing. 0: something is still attached (running, not stopped).
  return r == -1 && errno == ECHILD;
}

}  // namespace stackshot
