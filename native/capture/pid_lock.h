// Serialises captures of one pid within this process: a second PTRACE_SEIZE of a thread we
// already hold would fail with EPERM, so the second caller waits its turn instead.
#pragma once
#include <sys/types.h>

#include <condition_variable>
#include <mutex>
#include <set>

namespace stackshot {

class PidLock {
 public:
  explicit PidLock(pid_t pid) : pid_(pid) {
    std::unique_lock<std::mutex> lock(mutex());
    cv().wait(lock, [&] { return busy().count(pid_) == 0; });
    busy().insert(pid_);
  }
  ~PidLock() {
    {
      std::lock_guard<std::mutex> lock(mutex());
      busy().erase(pid_);
    }
    cv().notify_all();
  }
  PidLock(const PidLock&) = delete;
  PidLock& operator=(const PidLock&) = delete;

 private:
  static std::mutex& mutex() { static auto* m = new std::mutex(); return *m; }
  static std::condition_variable& cv() { static auto* c = new std::condition_variable(); return *c; }
  static std::set<pid_t>& busy() { static auto* s = new std::set<pid_t>(); return *s; }
  pid_t pid_;
};

}  // namespace stackshot
