#include "capture/held_task_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <string>
#include <vector>

namespace stackshot {

namespace {

// Tasks whose files one thread holds: up to 4 descriptors each (256 in all).
constexpr size_t kHeldTasks = 64;
constexpr size_t kKinds = 4;
constexpr std::array<const char*, kKinds> kNames = {"stat", "status", "schedstat", "syscall"};

struct HeldTask {
  pid_t pid = 0;
  pid_t tid = 0;
  uint64_t last_read = 0;
  std::array<int, kKinds> fds{-1, -1, -1, -1};
  uint64_t untraced_at = 0;  // note_untraced(); 0: nothing known
};

class HeldTasks {
 public:
  ~HeldTasks() {
    for (HeldTask& t : tasks_) close_all(t);
  }

  // The held descriptor of the file (opened now if it was not), or -1 and errno.
  int fd(pid_t pid, pid_t tid, TaskFileKind kind) {
    HeldTask& t = task(pid, tid);
    t.last_read = ++clock_;
    int& fd = t.fds[static_cast<size_t>(kind)];
    if (fd == -1) fd = open(path(pid, tid, kind).c_str(), O_RDONLY | O_CLOEXEC);
    return fd;
  }

  void drop(pid_t pid, pid_t tid, TaskFileKind kind) {
    if (HeldTask* t = find(pid, tid)) {
      int& fd = t->fds[static_cast<size_t>(kind)];
      if (fd != -1) close(fd);
      fd = -1;
      t->untraced_at = 0;
    }
  }

  HeldTask* find(pid_t pid, pid_t tid) {
    for (HeldTask& t : tasks_) {
      if (t.pid == pid && t.tid == tid) return &t;
    }
    return nullptr;
  }

 private:
  static std::string path(pid_t pid, pid_t tid, TaskFileKind kind) {
    return "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/" + kNames[static_cast<size_t>(kind)];
  }

  static void close_all(HeldTask& t) {
    for (int& fd : t.fds) {
      if (fd != -1) close(fd);
      fd = -1;
    }
  }

  // The task's entry; a new one takes the place of the least recently read when all are taken.
  HeldTask& task(pid_t pid, pid_t tid) {
    if (HeldTask* t = find(pid, tid)) return *t;
    if (tasks_.size() < kHeldTasks) return tasks_.emplace_back(HeldTask{pid, tid});
    HeldTask* oldest = &tasks_.front();
    for (HeldTask& t : tasks_) {
      if (t.last_read < oldest->last_read) oldest = &t;
    }
    close_all(*oldest);
    *oldest = HeldTask{pid, tid};
    return *oldest;
  }

  std::vector<HeldTask> tasks_;
  uint64_t clock_ = 0;
};

thread_local HeldTasks held;

int read_once(pid_t pid, pid_t tid, TaskFileKind kind, char* buf, size_t size, size_t* len) {
  const int fd = held.fd(pid, tid, kind);
  if (fd == -1) return errno;
  ssize_t n;
  do {
    n = pread(fd, buf, size - 1, 0);
  } while (n == -1 && errno == EINTR);
  if (n == -1) return errno;
  if (n == 0) return EIO;  // none of these files is ever empty
  buf[n] = '\0';
  *len = static_cast<size_t>(n);
  return 0;
}

}  // namespace

void note_untraced(pid_t pid, pid_t tid, uint64_t timeslices) {
  if (HeldTask* t = held.find(pid, tid)) t->untraced_at = timeslices;
}

bool untraced_at(pid_t pid, pid_t tid, uint64_t timeslices) {
  const HeldTask* t = held.find(pid, tid);
  return t != nullptr && timeslices != 0 && t->untraced_at == timeslices;
}

int read_task_file(pid_t pid, pid_t tid, TaskFileKind kind, char* buf, size_t size, size_t* len) {
  int err = read_once(pid, tid, kind, buf, size, len);
  if (err == 0) return 0;
  // A held descriptor of a task that has exited (or whose access was revoked): open anew.
  held.drop(pid, tid, kind);
  err = read_once(pid, tid, kind, buf, size, len);
  if (err != 0) held.drop(pid, tid, kind);  // nothing held for a file that cannot be read
  return err;
}

}  // namespace stackshot
