// The threads of a process, from /proc/<pid>/task. Listed again until stable during a capture,
// so threads born while we work are not missed.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace stackshot {

// Thread ids of pid, ascending. Returns 0 or an errno value (ENOENT: no such process).
int list_tasks(pid_t pid, std::vector<pid_t>* out);

struct TaskStat {
  std::string name;  // comm
  char state = '?';  // R, S, D, T, t, Z, ...
  // Field 22: clock ticks from boot to the thread's start (0 if unreadable); with the pid of
  // a leader, it names one process.
  uint64_t start_time = 0;
};

// Name and scheduler state of one thread from /proc/<pid>/task/<tid>/stat (read through a held
// descriptor: capture/held_task_files.h). Returns 0 or errno.
int read_task_stat(pid_t pid, pid_t tid, TaskStat* out);

// TracerPid of one thread from /proc/<pid>/task/<tid>/status: 0 if untraced or unreadable.
pid_t read_task_tracer(pid_t pid, pid_t tid);

// The same, telling an unreadable file (false) from an untraced thread (true, *tracer == 0).
bool read_task_tracer_pid(pid_t pid, pid_t tid, pid_t* tracer);

}  // namespace stackshot
