#include "capture/exec_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "capture/clock.h"
#include "capture/task_list.h"
#include "capture/tracee_events.h"

namespace stackshot {

namespace {

// A seize takes ~1 µs; a guarded call older than this is waiting for something (an exec).
constexpr int64_t kGuardGraceNs = 1000000;
// How often the armed reaper looks; faster while a guarded call is blocked.
constexpr auto kIdlePoll = std::chrono::microseconds(1000);
constexpr auto kBlockedPoll = std::chrono::microseconds(200);

struct Reaper {
  std::mutex mutex;  // held by the reaper thread while it reaps
  std::condition_variable cv;
  int armed = 0;
  pid_t pid = 0;
  bool started = false;
  std::vector<pid_t> reaped;           // under mutex, until the guard collects them
  std::atomic<int64_t> entered_ns{0};  // start of the guarded call; 0 outside one
  std::atomic<bool> pending{false};    // the reaper is reaping or has reaped: collect
};

uint64_t total_reaps = 0;  // tracer thread only

Reaper& reaper() {
  static auto* r = new Reaper();  // leaked: the thread may outlive static destruction
  return *r;
}

// Reaps every dead thread of pid that the tracer thread traces. waitid(P_PID, tid) from a
// sibling thread reaches the tracer's tracees and nothing else of ours: a non-leader tid is no
// process's id, so none of libuv's children can match. The leader is never waited for: an
// exec waits only for it to be a zombie, not for it to be reaped.
void reap_dead_threads(pid_t pid, std::vector<pid_t>* out) {
  std::vector<pid_t> tids;
  if (list_tasks(pid, &tids) != 0) return;
  for (pid_t tid : tids) {
    if (tid == pid) continue;
    // A tracee's stops are reported whatever the flags say: look first (WNOWAIT), and take
    // only an exit. A stop belongs to the tracer thread's waiter.
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(tid), &info, WEXITED | WNOHANG | WNOWAIT | __WALL) != 0) continue;
    const bool exited = info.si_code == CLD_EXITED || info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
    if (info.si_pid != tid || !exited) continue;
    info = siginfo_t{};
    if (waitid(P_PID, static_cast<id_t>(tid), &info, WEXITED | WNOHANG | __WALL) == 0 && info.si_pid == tid) {
      out->push_back(tid);  // a zombie stays one: what we looked at is what we reaped
    }
  }
}

void reaper_main(Reaper* r) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  std::unique_lock<std::mutex> lock(r->mutex);
  bool blocked = false;
  for (;;) {
    r->cv.wait(lock, [&] { return r->armed > 0; });
    r->cv.wait_for(lock, blocked ? kBlockedPoll : kIdlePoll);
    blocked = false;
    if (r->armed == 0) continue;
    // Dekker with ExecGuard::finish: either it sees pending and waits for our mutex, or we see
    // entered_ns == 0 and leave its tracees to it.
    r->pending.store(true);
    const int64_t entered = r->entered_ns.load();
    blocked = entered != 0 && now_ns() - entered >= kGuardGraceNs;
    if (blocked) reap_dead_threads(r->pid, &r->reaped);
    r->pending.store(!r->reaped.empty());
  }
}

}  // namespace

ExecReaperArm::ExecReaperArm(pid_t pid) {
  Reaper& r = reaper();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.pid = pid;
  r.reaped.clear();
  ++r.armed;
  if (!r.started) {
    std::thread(reaper_main, &r).detach();
    r.started = true;
  }
  r.cv.notify_all();
}

ExecReaperArm::~ExecReaperArm() {
  Reaper& r = reaper();
  std::lock_guard<std::mutex> lock(r.mutex);
  --r.armed;
}

ExecGuard::ExecGuard() { reaper().entered_ns.store(now_ns()); }

size_t ExecGuard::finish() {
  if (finished_) return 0;
  finished_ = true;
  Reaper& r = reaper();
  r.entered_ns.store(0);
  if (!r.pending.load()) return 0;
  std::vector<pid_t> reaped;
  {
    std::lock_guard<std::mutex> lock(r.mutex);
    reaped.swap(r.reaped);
    r.pending.store(false);
  }
  for (pid_t tid : reaped) tracee_events().note_reaped(tid);
  total_reaps += reaped.size();
  return reaped.size();
}

uint64_t exec_guard_reaps() { return total_reaps; }

std::string image_identity(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/auxv";
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return {};
  char buf[1024];  // ~400 bytes on x86-64; a prefix is enough to tell two images apart
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf));
  } while (n == -1 && errno == EINTR);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

}  // namespace stackshot
