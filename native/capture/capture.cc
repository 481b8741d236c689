#include "capture/capture.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <set>

#include "capture/arena.h"
#include "capture/clock.h"
#include "capture/exec_guard.h"
#include "capture/exe_image.h"
#include "capture/paths.h"
#include "capture/proc_maps.h"
#include "capture/stack_reader.h"
#include "capture/task_list.h"
#include "capture/tracee.h"
#include "capture/tracee_events.h"
#include "capture/tracer_thread.h"

namespace stackshot {

namespace {

// Threads can be born faster than we list them; after this many rounds we stop chasing them.
constexpr int kMaxListingRounds = 16;
// An execve that runs through a capture leaves threads of two images and the maps of one: the
// capture is taken again this many times before it is returned marked exec_during_capture.
constexpr int kExecRetries = 2;
// A seize refused while no other tracer is to be seen is tried again this often at once.
constexpr int kQuickRetries = 3;
// Consistent schedule: stack memory faulted in before the stops, and the most all copies of one
// capture may hold (2,000 threads x stackBytes would otherwise be GiBs).
constexpr size_t kPrefaultBudget = 32u << 20;
constexpr size_t kCopyBudget = 1u << 30;

class Capturer {
 public:
  Capturer(pid_t pid, const CaptureOptions& options)
      : pid_(pid),
        options_(options),
        reader_(pid, options.force_proc_mem, options.stack_bytes, StackReader::Opening::kHeld) {}

  CaptureResult run() {
    const int64_t t0 = now_ns();
    // Read before the maps: an execve after it shows as another identity at the end.
    std::string image = image_identity(pid_);
    if (exe_image(pid_, image) == ExeImage::kForeign) {
      throw CaptureError(
          EINVAL, "ptrace",
          "pid " + std::to_string(pid_) + " runs a program of another architecture (not 64-bit " + arch_name() + ")");
    }
    // From here on, a dead tracee the target's execve waits for is reaped even while we wait
    // for that execve ourselves (capture/exec_guard.h).
    ExecReaperArm reaper(pid_);
    for (int attempt = 0;; ++attempt) {
      // Everything that costs time is done before the first stop: maps, buffers, /proc/<pid>/mem.
      if (attempt > 0) {
        image = image_identity(pid_);
        reader_.rebind();  // the execve replaced the address space its files were bound to
      }
      read_maps();
      const uint64_t reaps = exec_guard_reaps();
      const int64_t first_stop = now_ns();
      capture_all();
      result_.capture_ns = now_ns() - first_stop;
      const std::string after = image_identity(pid_);
      const bool exec_seen = exec_guard_reaps() != reaps || (!image.empty() && !after.empty() && after != image);
      if (!exec_seen) break;
      // A thread still attached from this attempt could not be seized again: report instead.
      if (attempt == kExecRetries || holds_undetached_tracee()) {
        result_.exec_during_capture = true;
        break;
      }
      // An execve ran through the capture: threads of two images, maps of one. Every thread
      // runs again here; take the capture again, against the new image.
      result_.threads.clear();
      result_.bytes_copied = 0;
      result_.live_threads = 0;
      seen_.clear();
      (*arena_)->reset();
    }
    fail_if_nothing_attached();

    refresh_maps_if_stale();
    result_.pid = pid_;
    result_.maps = maps_.text();
    result_.arena = arena_;
    result_.total_ns = now_ns() - t0;
    return std::move(result_);
  }

 private:
  void read_maps() {
    int err = maps_.read(pid_);
    // Reading another process's maps passes the same ptrace access check as attaching, so a
    // refusal here is the EPERM that PTRACE_SEIZE would have returned.
    if (err == EACCES || err == EPERM)
      throw CaptureError(EPERM, "ptrace", "cannot attach to pid " + std::to_string(pid_) + ": permission denied");
    if (err != 0)
      throw CaptureError(err == ENOENT ? ESRCH : err, "open", "cannot read /proc/" + std::to_string(pid_) + "/maps");
  }

  void capture_all() {
    for (int round = 0; round < kMaxListingRounds; ++round) {
      std::vector<pid_t> fresh = next_threads(round);
      if (fresh.empty()) break;
      if (options_.consistent) {
        capture_together(fresh);
      } else {
        for (pid_t tid : fresh) capture_alone(tid);
      }
      if (!options_.tids.empty()) break;  // an explicit list is captured once
    }
  }

  // Threads not seen yet: the explicit list, or /proc/<pid>/task listed again.
  std::vector<pid_t> next_threads(int round) {
    std::vector<pid_t> listed;
    if (!options_.tids.empty()) {
      listed = options_.tids;
    } else {
      int err = list_tasks(pid_, &listed);
      if (err != 0) {
        if (round == 0)
          throw CaptureError(err == ENOENT ? ESRCH : err, "open", "cannot list threads of pid " + std::to_string(pid_));
        return {};  // the process ended during the capture: what we have is the result
      }
    }
    std::vector<pid_t> fresh;
    for (pid_t tid : listed) {
      if (seen_.insert(tid).second) fresh.push_back(tid);
    }
    return fresh;
  }

  ThreadCapture& add_thread(pid_t tid) {
    result_.threads.emplace_back();
    ThreadCapture& t = result_.threads.back();
    t.tid = tid;
    TaskStat stat;
    if (read_task_stat(pid_, tid, &stat) == 0) {
      t.name = std::move(stat.name);
      t.state = stat.state;
      if (tid == pid_) result_.leader_start_time = stat.start_time;
    } else {
      t.status = ThreadStatus::kExited;  // gone before we got to it
    }
    // A zombie (e.g. a leader that called pthread_exit) has no stack and cannot be seized.
    if (t.state == 'Z' || t.state == 'X') t.status = ThreadStatus::kExited;
    if (t.status != ThreadStatus::kExited) ++result_.live_threads;
    return t;
  }

  bool thread_gone(pid_t tid) const {
    TaskStat stat;
    return read_task_stat(pid_, tid, &stat) != 0 || stat.state == 'Z' || stat.state == 'X';
  }

  static void mark_failed(ThreadCapture& t, int err, const char* syscall) {
    if (err == ESRCH) {
      t.status = ThreadStatus::kExited;
    } else {
      t.status = ThreadStatus::kFailed;
      t.err = err;
      t.syscall = syscall;
    }
  }

  // Seize (attaches, stops nothing). Returns false (and records why) if the thread cannot be held.
  bool seize(Tracee& tracee, ThreadCapture& t) {
    // Reap tracees that died since (an execve in the target kills every other thread and
    // waits, holding the lock PTRACE_SEIZE takes, until they are reaped).
    tracee_events().drain();
    int err = seize_once(tracee, t);
    // Another tracer holds the thread: most often a second stackshot of this process, which
    // lets go within microseconds (rolling) or stopTimeoutMs (consistent). Wait for it, within
    // one budget per capture, then name it. Threads are seized in ascending tid order by every
    // stackshot, so two consistent captures never wait for each other in a cycle.
    for (int again = 0; err == EPERM;) {
      t.tracer_pid = read_task_tracer(pid_, t.tid);
      if (t.tracer_pid == 0 ? ++again > kQuickRetries : !wait_for_other_tracer()) break;
      err = seize_once(tracee, t);  // no tracer now: it let go between our seize and our look
    }
    if (err != 0) mark_failed(t, err, "ptrace");
    if (err == 0) t.tracer_pid = 0;
    return err == 0;
  }

  int seize_once(Tracee& tracee, const ThreadCapture& t) {
    int err = tracee.seize();
    // The kernel refuses to attach to a thread that is already exiting with EPERM, not ESRCH:
    // a thread that vanished since we listed it is exited, not a permission problem.
    if (err == EPERM && thread_gone(t.tid)) err = ESRCH;
    return err;
  }

  // Sleeps a little if the capture's budget for waiting on other tracers (stopTimeoutMs, from
  // the first wait) is not spent. Dead tracees are reaped meanwhile (capture/exec_guard.h).
  bool wait_for_other_tracer() {
    const int64_t now = now_ns();
    if (other_tracer_deadline_ == 0) other_tracer_deadline_ = now + options_.stop_timeout_ns;
    // Consistent, after the first round: its threads are held stopped meanwhile.
    if (now >= other_tracer_deadline_ || (hold_deadline_ != 0 && now >= hold_deadline_)) return false;
    tracee_events().drain();
    timespec ts{0, 200000};
    nanosleep(&ts, nullptr);
    return true;
  }

  bool interrupt(Tracee& tracee, ThreadCapture& t) {
    int err = tracee.interrupt();
    if (err != 0) mark_failed(t, err, "ptrace");
    return err == 0;
  }

  bool finish_stop(Tracee& tracee, ThreadCapture& t, int64_t deadline_ns) {
    switch (tracee.wait_stop(deadline_ns)) {
      case StopOutcome::kStopped: return true;
      case StopOutcome::kExited: t.status = ThreadStatus::kExited; return false;
      case StopOutcome::kTimedOut: t.status = ThreadStatus::kTimedOut; return false;
      case StopOutcome::kFailed: mark_failed(t, tracee.last_errno(), "waitpid"); return false;
    }
    return false;
  }

  // Registers of a stopped thread. Returns false (and records why) if they cannot be read.
  bool read_regs(Tracee& tracee, ThreadCapture& t) {
    int err = read_registers(tracee.tid(), &t.regs);
    if (err != 0) mark_failed(t, err, "ptrace");
    return err == 0;
  }

  // The stack copy of a stopped thread (capture/paths.h: one copy rule for every path).
  void copy_stopped_stack(Tracee& tracee, ThreadCapture& t, size_t len) {
    copy_stack(path_context(), tracee.tid(), t, len);
    result_.bytes_copied += t.stack_size;
  }

  PathContext path_context() { return PathContext{pid_, maps_, reader_, **arena_, options_, result_.perf_refused}; }

  // The chooser: the first stop-free path that serves the thread, else false.
  bool capture_without_stop(ThreadCapture& t) {
    const PathContext context = path_context();
    for (StopFreePath path : stop_free_paths(options_.mode)) {
      const char* refusal = path(context, t);
      if (refusal == nullptr) {
        t.fallback = "";
        result_.bytes_copied += t.stack_size;
        return true;
      }
      // The last refusal says why the thread is stopped after all ("": the path does not apply).
      if (*refusal != '\0') t.fallback = refusal;
    }
    return false;
  }

  void end_stop(Tracee& tracee, ThreadCapture& t) {
    tracee.detach();
    t.reinjected_signal = tracee.pending_signal();
  }

  void capture_alone(pid_t tid) {
    ThreadCapture& t = add_thread(tid);
    if (t.status == ThreadStatus::kExited) return;
    const bool elsewhere = std::find(options_.sampled_elsewhere.begin(), options_.sampled_elsewhere.end(), tid) !=
                           options_.sampled_elsewhere.end();
    if (t.state == 'R' ? elsewhere : options_.only_running) {
      result_.threads.pop_back();
      ++skipped_;
      return;
    }
    if (capture_without_stop(t)) return;
    (*arena_)->reserve_more(options_.stack_bytes);  // page faults now, not inside the pause
    Tracee tracee(tid);
    if (!seize(tracee, t)) return;  // the wait for another tracer is no pause of this thread
    const int64_t start = now_ns();
    if (interrupt(tracee, t) && finish_stop(tracee, t, now_ns() + options_.stop_timeout_ns)) {
      if (read_regs(tracee, t)) copy_stopped_stack(tracee, t, planned_copy(path_context(), t));
      end_stop(tracee, t);
    }
    t.pause_ns = now_ns() - start;
  }

  void capture_together(std::vector<pid_t> fresh) {
    std::vector<std::unique_ptr<Tracee>> tracees;
    std::vector<size_t> index;  // tracees[i] belongs to result_.threads[index[i]]
    std::vector<int64_t> started;
    // One deadline for the whole cut, from the first interrupt: no thread is held longer than
    // stopTimeoutMs because others were slow to stop.
    int64_t deadline = hold_deadline_ = 0;
    // Stop every thread; threads that appear meanwhile are stopped too until the list is stable
    // (a stopped thread cannot create new ones).
    for (int round = 0; !fresh.empty() && round < kMaxListingRounds; ++round) {
      // Most copies are far shorter than stackBytes: fault in up to a budget now, the rest
      // (if the stacks really use more) once every sp is known.
      (*arena_)->reserve_more(std::min(fresh.size() * options_.stack_bytes, kPrefaultBudget));
      const size_t first = tracees.size();
      // Seize them all before interrupting any: a seize may wait for an execve under way
      // (capture/exec_guard.h), and then no thread of this round is held stopped meanwhile.
      for (pid_t tid : fresh) {
        index.push_back(result_.threads.size());
        ThreadCapture& t = add_thread(tid);
        started.push_back(0);
        tracees.push_back(t.status == ThreadStatus::kExited ? nullptr : std::make_unique<Tracee>(tid));
        if (tracees.back() && !seize(*tracees.back(), t)) tracees.back().reset();
      }
      if (deadline == 0) deadline = hold_deadline_ = now_ns() + options_.stop_timeout_ns;
      for (size_t i = first; i < tracees.size(); ++i) {
        started[i] = now_ns();
        if (tracees[i] && !interrupt(*tracees[i], result_.threads[index[i]])) tracees[i].reset();
      }
      bool all_stopped = true;
      for (size_t i = first; i < tracees.size(); ++i) {
        ThreadCapture& t = result_.threads[index[i]];
        if (tracees[i] && !finish_stop(*tracees[i], t, deadline)) tracees[i].reset();
        if (t.status == ThreadStatus::kTimedOut) all_stopped = false;
      }
      // A thread that would not stop may be an execve under way: seizing more threads would
      // wait for it while the others are held. What we hold is the cut.
      if (!all_stopped || now_ns() >= deadline) break;
      fresh = options_.tids.empty() ? next_threads(1) : std::vector<pid_t>{};
    }
    // Registers first: with every sp known, the copies take what the stacks use, no more.
    std::vector<size_t> lengths(tracees.size(), 0);
    size_t total = 0;
    for (size_t i = 0; i < tracees.size(); ++i) {
      if (tracees[i] && !read_regs(*tracees[i], result_.threads[index[i]])) tracees[i].reset();
      if (tracees[i]) total += lengths[i] = planned_copy(path_context(), result_.threads[index[i]]);
    }
    // A total budget: past it, each copy gets an equal share (and says copy-exhausted).
    if (total > kCopyBudget) {
      const size_t share = kCopyBudget / tracees.size();
      total = 0;
      for (size_t& len : lengths) total += len = std::min(len, share);
    }
    (*arena_)->reserve_more(total);
    for (size_t i = 0; i < tracees.size(); ++i) {
      if (tracees[i]) copy_stopped_stack(*tracees[i], result_.threads[index[i]], lengths[i]);
    }
    for (size_t i = 0; i < tracees.size(); ++i) {
      if (!tracees[i]) continue;  // never stopped: no pause to report
      ThreadCapture& t = result_.threads[index[i]];
      end_stop(*tracees[i], t);
      t.pause_ns = now_ns() - started[i];
    }
  }

  // If no thread could be attached for the same reason (EPERM for all), the capture failed.
  void fail_if_nothing_attached() {
    int common = -1;
    for (const ThreadCapture& t : result_.threads) {
      if (t.status == ThreadStatus::kCaptured) return;
      if (t.status != ThreadStatus::kFailed) return;
      if (common == -1) common = t.err;
      if (common != t.err) return;
    }
    if (common > 0)
      throw CaptureError(common, "ptrace",
                         std::string("cannot attach to pid ") + std::to_string(pid_) + ": " + strerror(common));
    if (result_.threads.empty() && skipped_ == 0)
      throw CaptureError(ESRCH, "ptrace", "pid " + std::to_string(pid_) + " has no threads left");
  }

  // Stacks and code mapped after our read of the maps (a new thread, freshly JIT-ed code) would
  // fail the unwinder's checks: read the maps again, now that every thread runs, if anything
  // is unknown.
  void refresh_maps_if_stale() {
    for (const ThreadCapture& t : result_.threads) {
      if (t.status != ThreadStatus::kCaptured) continue;
      if (maps_.find(t.regs.sp) == nullptr || !maps_.is_executable(t.regs.pc)) {
        ProcMaps fresh;
        if (fresh.read(pid_) == 0) maps_ = std::move(fresh);
        return;
      }
    }
  }

  pid_t pid_;
  const CaptureOptions& options_;
  ProcMaps maps_;
  StackReader reader_;
  std::shared_ptr<ArenaLease> arena_ = std::make_shared<ArenaLease>();
  std::set<pid_t> seen_;
  int64_t other_tracer_deadline_ = 0;  // 0: no other tracer met yet
  int64_t hold_deadline_ = 0;          // consistent: when every held thread must be let go (0: none held)
  int skipped_ = 0;                    // threads left out (sampled_elsewhere, only_running)
  CaptureResult result_;
};

}  // namespace

CaptureResult capture_process(pid_t pid, const CaptureOptions& options) {
  CaptureResult result;
  std::exception_ptr failure;
  run_on_tracer_thread([&] {
    try {
      result = Capturer(pid, options).run();
    } catch (...) {
      failure = std::current_exception();
    }
  });
  if (failure) std::rethrow_exception(failure);
  return result;
}

}  // namespace stackshot
