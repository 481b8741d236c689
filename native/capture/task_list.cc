#include "capture/task_list.h"

#include <dirent.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "capture/held_task_files.h"

namespace stackshot {

int list_tasks(pid_t pid, std::vector<pid_t>* out) {
  out->clear();
  std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return errno;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    out->push_back(static_cast<pid_t>(strtol(e->d_name, nullptr, 10)));
  }
  closedir(d);
  std::sort(out->begin(), out->end());
  return 0;
}

int read_task_stat(pid_t pid, pid_t tid, TaskStat* out) {
  char buf[512];
  size_t len;
  if (int err = read_task_file(pid, tid, TaskFileKind::kStat, buf, sizeof(buf), &len); err != 0) return err;
  // "tid (comm) S ...": comm may itself hold ')' or spaces, so take the LAST ')'.
  char* open_paren = strchr(buf, '(');
  char* close_paren = strrchr(buf, ')');
  if (open_paren == nullptr || close_paren == nullptr || close_paren < open_paren) return EIO;
  out->name.assign(open_paren + 1, close_paren);
  out->state = close_paren[1] == ' ' && close_paren[2] != '\0' ? close_paren[2] : '?';
  // close_paren[1] is the space before field 3 (the state); 19 spaces on is the one before 22.
  const char* field = close_paren + 1;
  for (int k = 0; k < 19 && field != nullptr; ++k) field = strchr(field + 1, ' ');
  out->start_time = field != nullptr ? strtoull(field + 1, nullptr, 10) : 0;
  return 0;
}

bool read_task_tracer_pid(pid_t pid, pid_t tid, pid_t* tracer) {
  char buf[4096];
  size_t len;
  if (read_task_file(pid, tid, TaskFileKind::kStatus, buf, sizeof(buf), &len) != 0 || len == 0) return false;
  const char* field = strstr(buf, "\nTracerPid:");
  if (field == nullptr) return false;
  *tracer = static_cast<pid_t>(strtol(field + 11, nullptr, 10));
  return true;
}

pid_t read_task_tracer(pid_t pid, pid_t tid) {
  pid_t tracer = 0;
  return read_task_tracer_pid(pid, tid, &tracer) ? tracer : 0;
}

}  // namespace stackshot
