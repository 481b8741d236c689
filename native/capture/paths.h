// The per-thread capture chooser. A thread captured alone (the rolling schedule) is offered to
// each stop-free path in turn; the first that serves it wins, and a thread none serves is
// stopped with ptrace as before. Each path lives in its own directory:
//   blocked/  a thread blocked in a system call: registers from /proc, stack copied unstopped
//   perf/     a running thread: a perf-event sample (registers and stack copied by the kernel)
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <vector>

#include "capture/arena.h"
#include "capture/capture.h"
#include "capture/proc_maps.h"
#include "capture/stack_reader.h"

namespace stackshot {

// What every path works with: the target, its maps, the reader and the arena the copies go to.
struct PathContext {
  pid_t pid;
  const ProcMaps& maps;
  StackReader& reader;  // one reader for every path: one rule for how target memory is read
  Arena& arena;
  const CaptureOptions& options;
  int& perf_refused;  // errno of a refused perf_event_open this capture (0: allowed or not tried)
};

// What t's stack copy should hold: from sp to the end of its mapping, at most stack_bytes.
size_t planned_copy(const PathContext& c, const ThreadCapture& t);
// Copies len bytes of t's stack from t.regs.sp into the arena, reading through task, of the
// pages in memory only (StackReader::read_resident: a page the kernel would have to fault in
// could wait for the target's userfaultfd handler). Sets stack_offset, stack_size, holes and
// stack_limited.
void copy_stack(const PathContext& c, pid_t task, ThreadCapture& t, size_t len);
// Returns the last copy_stack's bytes to the arena (a path that gives up on its copy).
void drop_stack(const PathContext& c, ThreadCapture& t);

// A stop-free path: captures t (path, regs, stack; pause_ns stays 0) and returns nullptr, or
// returns why it cannot serve t (a RawCaptureFallback name) and leaves t as it found it; ""
// when the path is not for such a thread (the reason of an earlier path then stands).
using StopFreePath = const char* (*)(const PathContext& c, ThreadCapture& t);

// The stop-free paths to try for a thread captured alone, cheapest first (none for kPtrace).
std::vector<StopFreePath> stop_free_paths(CaptureMode mode);

}  // namespace stackshot
