// Continuous on-CPU sampling of a whole process for `record`: one software clock event per
// thread (period = 1/hz of that thread's own run time, timed by the kernel), and one native
// reader thread that drains every ring as samples arrive and follows new threads (rescanning
// /proc/<pid>/task; `inherit` is not used: it cannot be combined with per-thread rings).
// JavaScript takes what was sampled since it last asked. The events die with our process: a
// recorder killed with SIGKILL leaves nothing attached to the target.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "arch/registers.h"

namespace stackshot {

struct RecordedSample {
  pid_t tid = 0;
  uint64_t time_ns = 0;    // the kernel's perf clock (monotonic)
  uint64_t weight_ns = 0;  // the thread's run time the sample stands for (see weigh)
  RegisterSet regs;
  std::vector<uint8_t> stack;  // from regs.sp upward
  bool stack_cut = false;      // the copy ended at the sample's size limit
};

struct RecorderBatch {
  std::vector<RecordedSample> samples;  // oldest first
  std::map<pid_t, std::string> names;   // comm of every thread with a sample here
  uint64_t lost = 0;                    // samples dropped since the last take (ring or queue full)
  bool target_gone = false;             // the process no longer exists
  std::vector<pid_t> covered;           // threads that carry an event
};

class PerfRecorder {
 public:
  // Throws CaptureError when no thread of pid can carry an event (its errno: perf refused,
  // no such process).
  PerfRecorder(pid_t pid, uint64_t period_ns, uint32_t stack_bytes);
  ~PerfRecorder();
  PerfRecorder(const PerfRecorder&) = delete;
  PerfRecorder& operator=(const PerfRecorder&) = delete;

  RecorderBatch take();
  void close();

 private:
  struct Event;
  void reader_loop();
  void follow_new_threads();
  bool open_event(pid_t tid, int* err);
  std::unique_ptr<Event> new_event(pid_t tid, uint32_t stack_bytes, int* err);
  void grow(Event& e);
  void drain(Event& e);
  static void weigh(Event& e, std::vector<RecordedSample>* got, uint64_t period_ns);
  void update_covered();

  const pid_t pid_;
  const uint64_t period_ns_;
  const uint32_t stack_bytes_;                  // the most a sample copies: a thread gets it once it needs it
  const uint32_t first_stack_bytes_;            // what a thread's samples copy until one is cut short
  std::vector<std::unique_ptr<Event>> events_;  // the reader thread's once it runs
  std::set<pid_t> seen_;
  int wake_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::thread reader_;

  std::mutex mu_;  // guards what take() hands over
  std::vector<RecordedSample> queue_;
  size_t queued_bytes_ = 0;
  std::map<pid_t, std::string> names_;
  uint64_t lost_ = 0;
  bool gone_ = false;
  std::vector<pid_t> covered_;
};

}  // namespace stackshot
