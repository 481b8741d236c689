#include "capture/perf/thread_sampler.h"

#include <linux/perf_event.h>
#include <poll.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture/clock.h"
#include "capture/perf/perf_event.h"
#include "capture/perf/ring.h"
#include "capture/perf/sample_format.h"
#include "capture/perf/sample_regs.h"
#include "capture/task_list.h"

namespace stackshot {

namespace {

// The first sample comes after this much of the thread's own run time (the kernel's minimum).
constexpr uint64_t kPeriodNs = 10000;
// How often the wait looks whether the thread is still runnable (a blocked one never ticks).
constexpr int64_t kStateCheckNs = 2 * 1000000;
// The wait naps, first briefly (the sample normally comes within tens of µs), then longer.
// It does not sleep in poll() on the event: a waiter on the event's queue makes the sample's
// interrupt on the target's CPU also wake us with a cross-CPU interrupt, which the target pays
// for (its sample gap: median 38 -> 29 µs measured on the shared VM, bench/perf-phases.c).
constexpr int64_t kFirstNapNs = 20 * 1000;
constexpr int64_t kLongestNapNs = 1000 * 1000;
// The stack a sample copies at most: 1 KiB under 64 KiB, so that the record with its header and
// registers (and a notice ahead of it) fits a ring of 16 pages. The full 65528 bytes would need
// 32: the ring is allocated, zeroed and unmapped for every sample, and half of it saves ~15 µs
// of a running thread's ~100. A stack deeper than the copy is captured again (stop-fallback.ts).
constexpr uint32_t kSampleStack = 64 * 1024 - 1024;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool refusal(int err) { return err == EACCES || err == EPERM || err == ENOSYS || err == ENOENT || err == EOPNOTSUPP; }

// Data pages for one record of a stack copy of `stack` bytes plus registers and header.
size_t ring_pages(size_t stack) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t pages = 1;
  while (pages * page < stack + 1024) pages <<= 1;
  return pages;
}

bool still_runnable(pid_t pid, pid_t tid) {
  TaskStat stat;
  return read_task_stat(pid, tid, &stat) == 0 && stat.state == 'R';
}

void nap(int64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  nanosleep(&ts, nullptr);  // EINTR: a shorter nap, the loop looks again
}

// Whether the event's thread has exited, without waiting on the event's queue.
bool event_hung_up(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLHUP) != 0;
}

}  // namespace

PerfOutcome sample_running_thread(pid_t pid, ThreadCapture* t, size_t stack_bytes, int64_t deadline_ns, Arena* arena,
                                  int* err) {
  *err = 0;
  PerfEventSpec spec;
  spec.tid = t->tid;
  spec.period_ns = kPeriodNs;
  spec.stack_bytes = static_cast<uint32_t>(std::min<size_t>(stack_bytes, kSampleStack)) & ~7u;
  spec.start_disabled = true;
  Fd fd(open_thread_clock(spec));
  if (fd.get() < 0) {
    *err = -fd.get();
    if (*err == ESRCH) return PerfOutcome::kNoSample;
    return refusal(*err) ? PerfOutcome::kRefused : PerfOutcome::kUnusable;
  }
  PerfRing ring;
  if (int e = ring.map(fd.get(), ring_pages(spec.stack_bytes)); e != 0) {
    *err = e;  // EPERM: over perf_event_mlock_kb without CAP_IPC_LOCK
    return refusal(e) ? PerfOutcome::kRefused : PerfOutcome::kUnusable;
  }
  // Armed for exactly one overflow: the kernel disables the event after the first sample, so a
  // slow wake-up here never costs the target a second copy.
  if (ioctl(fd.get(), PERF_EVENT_IOC_REFRESH, 1) != 0) {
    *err = errno;
    return PerfOutcome::kUnusable;
  }
  const size_t reg_count = static_cast<size_t>(__builtin_popcountll(perf_user_regs_mask()));
  int64_t next_state_check = now_ns() + kStateCheckNs;
  bool exited = false;
  for (int64_t nap_ns = kFirstNapNs;; nap_ns = std::min(nap_ns * 2, kLongestNapNs)) {
    size_t size = 0;
    if (const uint8_t* record = ring.next(&size)) {
      perf_event_header h;
      std::memcpy(&h, record, sizeof(h));
      if (h.type != PERF_RECORD_SAMPLE) continue;  // throttling notices and the like
      ParsedSample s;
      if (!parse_sample(record, size, reg_count, &s) || s.tid != t->tid || s.pid != pid) return PerfOutcome::kUnusable;
      // ABI_32: a compat task, whose registers this layout does not hold.
      if (s.abi != PERF_SAMPLE_REGS_ABI_64 || !registers_from_perf(s.regs, s.reg_count, &t->regs)) {
        return PerfOutcome::kUnusable;
      }
      t->stack_offset = arena->take(s.stack_size);
      if (s.stack_size > 0) std::memcpy(arena->at(t->stack_offset), s.stack, s.stack_size);
      t->stack_size = s.stack_size;
      // A copy that filled the whole size asked may have left frames above it; one that
      // stopped short ran into unmapped memory: the stack's end.
      t->stack_limited = s.stack_size == s.stack_asked;
      t->path = CapturePath::kPerf;
      t->pause_ns = 0;
      return PerfOutcome::kSampled;
    }
    const int64_t left_ns = deadline_ns - now_ns();
    if (exited || left_ns <= 0) return PerfOutcome::kNoSample;
    nap(std::min(nap_ns, left_ns));
    exited = event_hung_up(fd.get());  // the ring is read once more, then we give up
    if (now_ns() >= next_state_check) {
      if (!still_runnable(pid, t->tid)) return PerfOutcome::kNoSample;
      next_state_check = now_ns() + kStateCheckNs;
    }
  }
}

}  // namespace stackshot
