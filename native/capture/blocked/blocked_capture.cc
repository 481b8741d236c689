#include "capture/blocked/blocked_capture.h"

#include <time.h>

#include <cstring>

#include "capture/blocked/task_files.h"
#include "capture/exec_guard.h"

namespace stackshot {

namespace {

// A thread that woke during the copy (a timeout, a short sleep) is often asleep again a moment
// later: one more try costs a few µs, a stop costs the thread an interrupted call.
constexpr int kAttempts = 2;

// The syscall file's read takes the target's cred_guard_mutex, which an execve holds while it
// waits for our dead tracees: read it under an ExecGuard (capture/exec_guard.h).
bool read_syscall(pid_t pid, pid_t tid, TaskText* out) {
  ExecGuard guard;
  return read_task_text(pid, tid, TaskFileKind::kSyscall, out);
}

bool read_schedstat(pid_t pid, pid_t tid, TaskText* out) {
  return read_task_text(pid, tid, TaskFileKind::kSchedstat, out);
}

// The proof, in the order of the reads:
//   S1  schedstat        timeslices = k
//   Y1  syscall          the kernel saw the thread off the CPU, asleep in syscall nr, and read
//                        its saved user pc and sp (it prints "running" otherwise)
//   C   the stack copy
//   Y2  syscall          byte for byte Y1
//   S2  schedstat        byte for byte S1, so timeslices is still k
// timeslices counts switches onto a CPU (also for a thread on a CPU now, whose run time may not
// be brought up to date yet). Off the CPU at Y1 and never switched in between S1 and S2, the
// thread ran no instruction from Y1 to S2: the copy and the registers are one moment's state.
// s1: S1 when read already (the tracer look's schedstat: the proof then spans a little more).
const char* try_once(const PathContext& c, ThreadCapture& t, const TaskText* read_s1) {
  TaskText s1, y1, y2, s2;
  if (read_s1 != nullptr) {
    s1 = *read_s1;
  } else if (!read_schedstat(c.pid, t.tid, &s1)) {
    return "unreadable";
  }
  if (!read_syscall(c.pid, t.tid, &y1)) return "unreadable";
  uint64_t timeslices;
  if (!parse_timeslices(s1.text, &timeslices)) return "no-schedstat";
  SyscallState state;
  if (!parse_syscall_file(y1.text, &state)) return "unreadable";
  if (state.running) return "running";
  if (state.nr < 0) return "not-in-syscall";

  const RegisterSet before = t.regs;
  t.regs = RegisterSet{};
  t.regs.pc = state.pc;
  t.regs.sp = state.sp;
  copy_stack(c, t.tid, t, planned_copy(c, t));
  if (c.options.test_copy_delay_ns > 0) {
    const timespec delay{0, static_cast<long>(c.options.test_copy_delay_ns % 1000000000)};
    nanosleep(&delay, nullptr);
  }

  if (!read_syscall(c.pid, t.tid, &y2) || !(y2 == y1) || !read_schedstat(c.pid, t.tid, &s2) || !(s2 == s1)) {
    drop_stack(c, t);
    t.regs = before;
    return "ran-during-copy";
  }
  t.path = CapturePath::kBlocked;
  t.pause_ns = 0;
  return nullptr;
}

// A thread another tracer holds is left to it (ptrace then says who): one tracer at a time.
// TracerPid costs a read of the whole status file (6 µs, most of a blocked thread's cost). A
// tracer can stop a thread, and so change its registers or memory through ptrace, only once the
// thread runs again; while its count of switches onto a CPU stands where it stood when the
// last look found no tracer, no tracer can have acted on it since, and the look is not taken.
// sched: the thread's schedstat, read here (empty if it could not be).
const char* tracer_refusal(pid_t pid, pid_t tid, TaskText* sched) {
  uint64_t timeslices = 0;
  const bool counted = read_schedstat(pid, tid, sched) && parse_timeslices(sched->text, &timeslices);
  if (!counted) sched->size = 0;
  if (counted && untraced_at(pid, tid, timeslices)) return nullptr;
  bool traced = false;
  if (!read_traced(pid, tid, &traced)) return "unreadable";
  if (traced) return "traced";
  if (counted) note_untraced(pid, tid, timeslices);
  return nullptr;
}

}  // namespace

const char* capture_blocked(const PathContext& c, ThreadCapture& t) {
  if (t.state == 'R') return "running";  // cheap early answers; Y1 would say so too
  if (t.state == 't') return "traced";   // in a ptrace stop
  TaskText sched;
  if (const char* why = tracer_refusal(c.pid, t.tid, &sched)) return why;
  const char* refusal = "ran-during-copy";
  for (int i = 0; i < kAttempts && refusal != nullptr && std::strcmp(refusal, "ran-during-copy") == 0; ++i) {
    // The first try starts from the tracer look's count; a thread that ran since reads it anew.
    refusal = try_once(c, t, i == 0 && sched.size > 0 ? &sched : nullptr);
  }
  return refusal;
}

}  // namespace stackshot
