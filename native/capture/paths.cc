#include "capture/paths.h"

#include <algorithm>

#include "capture/blocked/blocked_capture.h"

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
// Until perf/ exists, a forced perf capture says why each thread fell back.
const char* perf_not_built(const PathContext&, ThreadCapture&) { return "perf-unavailable"; }
}  // namespace

std::vector<StopFreePath> stop_free_paths(CaptureMode mode) {
  // A blocked thread is served from /proc at once; the perf path (waits for a sample of a
  // running thread) plugs in after it.
  switch (mode) {
    case CaptureMode::kAuto: return {capture_blocked};
    case CaptureMode::kBlocked: return {capture_blocked};
    case CaptureMode::kPerf: return {perf_not_built};
    case CaptureMode::kPtrace: return {};
  }
  return {};
}

}  // namespace stackshot
