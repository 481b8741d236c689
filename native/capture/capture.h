// A whole-process capture: every requested thread stopped, its registers and stack copied,
// resumed. (The copies are unwound afterwards: unwind/unwinder.h.) The two schedules trade
// pause for consistency:
//   rolling    - one thread stopped at a time (smallest pause per thread)
//   consistent - every thread stopped together (one cut across all threads)
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "arch/registers.h"
#include "capture/arena.h"
#include "unwind/stack_view.h"

namespace stackshot {

// How one thread was captured: ptrace (stopped), or a stop-free path (capture/paths.h).
enum class CapturePath : uint8_t { kPtrace, kBlocked, kPerf };
// Which path a capture may use: auto (the cheapest that can serve each thread) or one forced.
enum class CaptureMode : uint8_t { kAuto, kPtrace, kBlocked, kPerf };

struct CaptureOptions {
  std::vector<pid_t> tids;  // empty: every thread, listed again until no new one appears
  bool consistent = false;
  size_t stack_bytes = 512 * 1024;
  int64_t stop_timeout_ns = 1000000000;
  bool force_proc_mem = false;            // read stacks through /proc/<pid>/mem (tests the fallback)
  CaptureMode mode = CaptureMode::kAuto;  // the consistent schedule always stops (one cut)
  int64_t test_copy_delay_ns = 0;         // a stop-free path waits this long after its copy (tests its checks)
  // Threads left out while in state R: record samples them with perf events.
  std::vector<pid_t> sampled_elsewhere;
  bool only_running = false;  // leave threads not in state R out (an on-CPU-only recording)
};

enum class ThreadStatus { kCaptured, kExited, kTimedOut, kFailed };

struct ThreadCapture {
  pid_t tid = 0;
  std::string name;
  char state = '?';
  ThreadStatus status = ThreadStatus::kCaptured;
  int err = 0;               // for kFailed
  const char* syscall = "";  // for kFailed
  pid_t tracer_pid = 0;      // for kFailed with EPERM: the other tracer that held the thread
  int reinjected_signal = 0;
  int64_t pause_ns = 0;  // what the target paid: 0 on a stop-free path
  CapturePath path = CapturePath::kPtrace;
  // Why the stop-free paths tried did not serve this thread ("" if none was tried or one served);
  // a name from the closed set in src/addon.ts (RawCaptureFallback).
  const char* fallback = "";
  RegisterSet regs;         // a blocked capture knows only pc and sp (raw_count 0)
  size_t stack_offset = 0;  // into the capture's arena
  size_t stack_size = 0;
  // The copy ended at a limit: stackBytes or the capture's budget (false: before it, at a page
  // that could not be read, or at the end of the stack's mapping).
  bool stack_limited = false;
  std::vector<StackHole> holes;  // pages of the copy not read: not in memory
};

struct CaptureResult {
  pid_t pid = 0;
  std::string maps;
  std::vector<ThreadCapture> threads;
  std::shared_ptr<ArenaLease> arena;  // holds the copied stacks
  int64_t capture_ns = 0;
  int64_t total_ns = 0;
  uint64_t bytes_copied = 0;
  bool exec_during_capture = false;  // the process exec'd during every attempt (capture.cc)
  int perf_refused = 0;              // errno of a refused perf_event_open (0: allowed, or not tried)
  uint64_t leader_start_time = 0;    // TaskStat::start_time of the thread pid (0: not read)
  uint32_t live_threads = 0;         // threads listed that were neither gone nor zombies
};

// A failure of the whole capture (no such process, permission refused for every thread).
struct CaptureError : std::runtime_error {
  CaptureError(int err, const char* syscall, const std::string& message)
      : std::runtime_error(message), err(err), syscall(syscall) {}
  int err;
  const char* syscall;
};

// Runs the capture on the tracer thread (capture/tracer_thread.h) and waits for it. Captures
// run one at a time, so two snapshots of one pid never compete for its threads (a second
// PTRACE_SEIZE would fail with EPERM). Throws CaptureError.
CaptureResult capture_process(pid_t pid, const CaptureOptions& options);

}  // namespace stackshot
