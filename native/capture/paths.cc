#include "capture/paths.h"

#include <algorithm>

#include "capture/blocked/blocked_capture.h"
#include "capture/clock.h"
#include "capture/perf/thread_sampler.h"

namespace stackshot {

size_t planned_copy(const PathContext& c, const ThreadCapture& t) {
  const Region* r = c.maps.find(t.regs.sp);
  return r == nullptr ? c.options.stack_bytes : std::min<uint64_t>(c.options.stack_bytes, r->end - t.regs.sp);
}

void copy_stack(const PathContext& c, pid_t task, ThreadCapture& t, size_t len) {
  t.stack_offset = c.arena.take(len);
  ssize_t n = c.reader.read_resident(task, t.regs.sp, c.arena.at(t.stack_offset), len, &t.holes);
  t.stack_size = n > 0 ? static_cast<size_t>(n) : 0;
  c.arena.give_back(len - t.stack_size);
  // Ended by a limit (stackBytes, the budget), or before it at a page that could not be read
  // or at the end of the mapping (walk_result.h tells the two apart).
  const Region* r = c.maps.find(t.regs.sp);
  t.stack_limited = t.stack_size == len && (r == nullptr || len < r->end - t.regs.sp);
}

void drop_stack(const PathContext& c, ThreadCapture& t) {
  c.arena.give_back(t.stack_size);
  t.stack_offset = 0;
  t.stack_size = 0;
  t.holes.clear();
  t.stack_limited = false;
}

namespace {

// How long a running thread may take to produce its perf sample before it is stopped instead.
constexpr int64_t kPerfWaitNs = 100 * 1000000;

// A running thread: one perf-event sample (capture/perf/thread_sampler.h). A thread that is not
// running is not for this path; one refusal turns perf off for the rest of the capture.
const char* capture_perf(const PathContext& c, ThreadCapture& t) {
  if (t.state != 'R') return "";
  if (c.perf_refused != 0) return "perf-unavailable";
  const int64_t deadline = now_ns() + std::min(kPerfWaitNs, c.options.stop_timeout_ns);
  int err = 0;
  switch (sample_running_thread(c.pid, &t, c.options.stack_bytes, deadline, &c.arena, &err)) {
    case PerfOutcome::kSampled: return nullptr;
    case PerfOutcome::kRefused: c.perf_refused = err; return "perf-unavailable";
    case PerfOutcome::kNoSample: return "no-sample";
    case PerfOutcome::kUnusable: return "perf-unavailable";
  }
  return "perf-unavailable";
}

}  // namespace

std::vector<StopFreePath> stop_free_paths(CaptureMode mode) {
  // A blocked thread is served from /proc at once; a running one waits for its perf sample.
  switch (mode) {
    case CaptureMode::kAuto: return {capture_blocked, capture_perf};
    case CaptureMode::kBlocked: return {capture_blocked};
    case CaptureMode::kPerf: return {capture_perf};
    case CaptureMode::kPtrace: return {};
  }
  return {};
}

}  // namespace stackshot
