#include "capture/perf/recorder.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "capture/capture.h"
#include "capture/clock.h"
#include "capture/perf/perf_event.h"
#include "capture/perf/ring.h"
#include "capture/perf/sample_format.h"
#include "capture/perf/sample_regs.h"
#include "capture/task_list.h"

namespace stackshot {

namespace {

// Ring data pages per thread (a power of two): room for 7 samples of a full stack copy. The
// reader is woken when half of it is full, not at every sample (see PerfEventSpec).
constexpr size_t kRingPages = 128;
constexpr size_t kMinRingPages = 32;
// Samples kept for JavaScript, all threads together, before new ones are dropped (a consumer
// that stopped pulling must not grow our memory): a count and the bytes of their stacks.
constexpr size_t kMaxQueued = 4096;
constexpr size_t kMaxQueuedBytes = 32u << 20;
// New threads are looked for this often.
constexpr int64_t kRescanNs = 20 * 1000000;
constexpr int kPollMs = 10;
// A thread's samples copy this much stack until one is cut short; then its event is opened
// again with the full size. The kernel reserves a record's whole size in the ring whatever it
// copies, so small records mean fewer wake-ups of the reader, whose interrupts the target pays
// for: at 999 Hz the spinner lost 2.8 % of its loop rate with 64 KiB, 2.0 % with 16 KiB.
constexpr uint32_t kFirstStackBytes = 16 * 1024;

}  // namespace

struct PerfRecorder::Event {
  pid_t tid = 0;
  int fd = -1;
  PerfRing ring;
  uint64_t counted_ns = 0;    // the event's count (the thread's run time) at the last drain
  int64_t unweighted_ns = 0;  // run time counted but not yet given to a sample (< 0: given ahead)
  uint32_t stack_bytes = 0;   // what each sample copies
  bool cut = false;           // a sample was cut short at stack_bytes: grow the event
  uint64_t lost_before = 0;   // samples the rings this event had before lost (see grow)
  ~Event() {
    if (fd >= 0) ::close(fd);
  }
};

PerfRecorder::PerfRecorder(pid_t pid, uint64_t period_ns, uint32_t stack_bytes)
    : pid_(pid),
      period_ns_(period_ns),
      stack_bytes_(std::min(stack_bytes, kMaxSampleStack) & ~7u),
      first_stack_bytes_(std::min(stack_bytes_, kFirstStackBytes)) {
  std::vector<pid_t> tids;
  int err = list_tasks(pid_, &tids);
  if (err != 0)
    throw CaptureError(err == ENOENT ? ESRCH : err, "open", "cannot list threads of pid " + std::to_string(pid_));
  int first_err = 0;
  for (pid_t tid : tids) {
    seen_.insert(tid);
    if (!open_event(tid, &err) && first_err == 0) first_err = err;
  }
  if (events_.empty()) {
    throw CaptureError(
        first_err != 0 ? first_err : ESRCH, "perf_event_open",
        "cannot open perf events on pid " + std::to_string(pid_) + ": " + strerror(first_err != 0 ? first_err : ESRCH));
  }
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  reader_ = std::thread([this] { reader_loop(); });
}

PerfRecorder::~PerfRecorder() { close(); }

void PerfRecorder::close() {
  if (stopping_.exchange(true)) return;
  if (wake_fd_ >= 0) {
    uint64_t one = 1;
    ssize_t ignored = write(wake_fd_, &one, sizeof(one));
    (void)ignored;
  }
  if (reader_.joinable()) reader_.join();
  events_.clear();  // closes every event: nothing stays attached to the target
  if (wake_fd_ >= 0) ::close(wake_fd_);
  wake_fd_ = -1;
}

std::unique_ptr<PerfRecorder::Event> PerfRecorder::new_event(pid_t tid, uint32_t stack_bytes, int* err) {
  PerfEventSpec spec;
  spec.tid = tid;
  spec.period_ns = period_ns_;
  spec.stack_bytes = stack_bytes;
  spec.wake_each_sample = false;
  int fd = open_thread_clock(spec);
  if (fd < 0) {
    *err = -fd;
    return nullptr;
  }
  auto e = std::make_unique<Event>();
  e->tid = tid;
  e->fd = fd;
  e->stack_bytes = stack_bytes;
  // Without CAP_IPC_LOCK, rings count against perf_event_mlock_kb: halve until one fits (one
  // record of a full stack copy still must).
  int m = EPERM;
  for (size_t pages = kRingPages; pages >= kMinRingPages && m != 0; pages /= 2) m = e->ring.map(fd, pages);
  if (m != 0) {
    *err = m;
    return nullptr;
  }
  return e;
}

bool PerfRecorder::open_event(pid_t tid, int* err) {
  std::unique_ptr<Event> e = new_event(tid, first_stack_bytes_, err);
  if (!e) return false;
  TaskStat stat;
  if (read_task_stat(pid_, tid, &stat) == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    names_[tid] = stat.name;
  }
  events_.push_back(std::move(e));
  update_covered();
  return true;
}

// A thread whose stack outgrew its samples: the same event with the full size, once. Samples
// the old ring took since the last drain are drained first; where the new event cannot be
// opened, the old one stays.
void PerfRecorder::grow(Event& e) {
  e.cut = false;
  int err = 0;
  std::unique_ptr<Event> bigger = new_event(e.tid, stack_bytes_, &err);
  if (!bigger) return;
  drain(e);
  e.lost_before += e.ring.lost();
  std::swap(e.fd, bigger->fd);
  std::swap(e.ring, bigger->ring);
  e.stack_bytes = stack_bytes_;
  e.counted_ns = 0;  // a new count; the old event's closes with `bigger`
  e.cut = false;
}

void PerfRecorder::follow_new_threads() {
  std::vector<pid_t> tids;
  if (list_tasks(pid_, &tids) != 0) {
    std::lock_guard<std::mutex> lock(mu_);
    gone_ = true;
    return;
  }
  for (pid_t tid : tids) {
    if (!seen_.insert(tid).second) continue;
    int err;
    open_event(tid, &err);  // a thread that exited meanwhile, or refused: it is skipped
  }
}

void PerfRecorder::drain(Event& e) {
  const size_t reg_count = static_cast<size_t>(__builtin_popcountll(perf_user_regs_mask()));
  std::vector<RecordedSample> got;
  size_t size = 0;
  while (const uint8_t* record = e.ring.next(&size)) {
    ParsedSample s;
    if (!parse_sample(record, size, reg_count, &s) || s.tid != e.tid || s.pid != pid_) continue;
    RecordedSample r;
    if (s.abi != PERF_SAMPLE_REGS_ABI_64 || !registers_from_perf(s.regs, s.reg_count, &r.regs)) continue;
    r.tid = s.tid;
    r.time_ns = s.time;
    r.stack.assign(s.stack, s.stack + s.stack_size);
    r.stack_cut = s.stack_size == s.stack_asked;
    got.push_back(std::move(r));
  }
  e.ring.consume();
  weigh(e, &got, period_ns_);
  std::lock_guard<std::mutex> lock(mu_);
  for (RecordedSample& r : got) {
    if (r.stack_cut && e.stack_bytes < stack_bytes_) {
      // Cut short by the first, smaller size: dropped, its run time given to the thread's next
      // sample, which the grown event copies whole.
      e.cut = true;
      e.unweighted_ns += static_cast<int64_t>(r.weight_ns);
      continue;
    }
    if (queue_.size() >= kMaxQueued || queued_bytes_ + r.stack.size() > kMaxQueuedBytes) {
      ++lost_;
      e.unweighted_ns += static_cast<int64_t>(r.weight_ns);  // the next sample of the thread stands for it
      continue;
    }
    queued_bytes_ += r.stack.size();
    queue_.push_back(std::move(r));
  }
}

// Each sample's weight is the thread's run time the kernel counted since the samples before
// it, shared by the samples of one drain: a period each while none is lost, more when the
// ring overflowed or the kernel throttled, so the weights add up to the thread's run time.
// The count is read after the ring: a sample taken in between is counted in this drain but
// weighed in the next, so a drain never gives less than a period (the balance goes below zero
// and the next drain pays it back).
void PerfRecorder::weigh(Event& e, std::vector<RecordedSample>* got, uint64_t period_ns) {
  uint64_t count = 0;
  if (read(e.fd, &count, sizeof(count)) == static_cast<ssize_t>(sizeof(count)) && count > e.counted_ns) {
    e.unweighted_ns += static_cast<int64_t>(count - e.counted_ns);
    e.counted_ns = count;
  }
  if (got->empty()) return;
  const int64_t n = static_cast<int64_t>(got->size());
  const int64_t each = std::max(static_cast<int64_t>(period_ns), e.unweighted_ns / n);
  for (RecordedSample& r : *got) r.weight_ns = static_cast<uint64_t>(each);
  e.unweighted_ns -= each * n;
}

void PerfRecorder::reader_loop() {
  int64_t next_rescan = now_ns() + kRescanNs;
  std::vector<pollfd> fds;
  uint64_t ring_lost_seen = 0;
  while (!stopping_.load()) {
    fds.clear();
    fds.push_back(pollfd{wake_fd_, POLLIN, 0});
    for (const auto& e : events_) fds.push_back(pollfd{e->fd, POLLIN, 0});
    poll(fds.data(), fds.size(), kPollMs);
    if (stopping_.load()) break;
    uint64_t ring_lost = 0;
    for (size_t i = events_.size(); i-- > 0;) {
      Event& e = *events_[i];
      drain(e);
      if (e.cut) grow(e);
      ring_lost += e.lost_before + e.ring.lost();
      if ((fds[i + 1].revents & (POLLHUP | POLLERR)) != 0) {
        events_.erase(events_.begin() + i);  // the thread exited
        update_covered();
      }
    }
    if (ring_lost != ring_lost_seen) {
      std::lock_guard<std::mutex> lock(mu_);
      if (ring_lost > ring_lost_seen) lost_ += ring_lost - ring_lost_seen;
      ring_lost_seen = ring_lost;
    }
    if (now_ns() >= next_rescan) {
      follow_new_threads();
      next_rescan = now_ns() + kRescanNs;
    }
  }
}

void PerfRecorder::update_covered() {
  std::vector<pid_t> tids;
  for (const auto& e : events_) tids.push_back(e->tid);
  std::lock_guard<std::mutex> lock(mu_);
  covered_ = std::move(tids);
}

RecorderBatch PerfRecorder::take() {
  RecorderBatch b;
  std::lock_guard<std::mutex> lock(mu_);
  b.samples.swap(queue_);
  queued_bytes_ = 0;
  for (const RecordedSample& s : b.samples) {
    auto it = names_.find(s.tid);
    b.names[s.tid] = it != names_.end() ? it->second : "";
  }
  b.lost = lost_;
  lost_ = 0;
  b.target_gone = gone_;
  b.covered = covered_;
  return b;
}

}  // namespace stackshot
