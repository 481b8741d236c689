#include "capture/blocked/task_files.h"

#include "capture/task_list.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace stackshot {

TaskFile::TaskFile(pid_t pid, pid_t tid, const char* name) {
  fd_ = open(task_file_path(pid, tid, name).c_str(), O_RDONLY | O_CLOEXEC);
}

TaskFile::~TaskFile() {
  if (fd_ != -1) close(fd_);
}

bool TaskFile::read(TaskText* out) const {
  if (fd_ == -1) return false;
  ssize_t n;
  do {
    n = pread(fd_, out->text, sizeof(out->text) - 1, 0);
  } while (n == -1 && errno == EINTR);
  // Both files are one short line; a full buffer means something we do not understand.
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(out->text) - 1) return false;
  out->size = static_cast<size_t>(n);
  out->text[out->size] = '\0';
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
