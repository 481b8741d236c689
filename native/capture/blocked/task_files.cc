#include "capture/blocked/task_files.h"

#include "capture/task_list.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace stackshot {

bool read_task_text(pid_t pid, pid_t tid, TaskFileKind kind, TaskText* out) {
  size_t n = 0;
  if (read_task_file(pid, tid, kind, out->text, sizeof(out->text), &n) != 0) return false;
  // Both files are one short line; a full buffer means something we do not understand.
  if (n >= sizeof(out->text) - 1) return false;
  out->size = n;
  return true;
}

bool TaskText::operator==(const TaskText& o) const { return size == o.size && std::memcmp(text, o.text, size) == 0; }

bool read_traced(pid_t pid, pid_t tid, bool* traced) {
  pid_t tracer = 0;
  if (!read_task_tracer_pid(pid, tid, &tracer)) return false;
  *traced = tracer != 0;
  return true;
}

bool parse_syscall_file(const char* text, SyscallState* out) {
  *out = SyscallState{};
  if (std::strncmp(text, "running", 7) == 0) {
    out->running = true;
    return true;
  }
  int64_t nr;
  uint64_t w[8];
  int n = std::sscanf(
      text, "%" SCNd64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64 " %" SCNx64,
      &nr, &w[0], &w[1], &w[2], &w[3], &w[4], &w[5], &w[6], &w[7]);
  if (n < 1) return false;
  out->nr = nr;
  if (nr < 0 && n == 3) {  // "-1 sp pc"
    out->sp = w[0];
    out->pc = w[1];
    return true;
  }
  if (nr < 0 || n != 9) return false;
  out->sp = w[6];
  out->pc = w[7];
  return true;
}

bool parse_timeslices(const char* text, uint64_t* out) {
  uint64_t run_ns, wait_ns;
  if (std::sscanf(text, "%" SCNu64 " %" SCNu64 " %" SCNu64, &run_ns, &wait_ns, out) != 3) return false;
  return *out != 0;
}

}  // namespace stackshot
