#include "capture/proc_maps.h"

#include "capture/task_list.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace stackshot {

static int read_whole_file(const std::string& path, std::string* out) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd == -1) return errno;
  out->clear();
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n == -1 && errno == EINTR) continue;
    if (n == -1) {
      int err = errno;
      close(fd);
      return err;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return 0;
}

int ProcMaps::read(pid_t pid) {
  int err = read_whole_file("/proc/" + std::to_string(pid) + "/maps", &text_);
  if (err != 0) return err;
  // A leader that called pthread_exit is a zombie with an empty maps file while its other
  // threads run on: their address space is the process's, read through one of them.
  if (text_.empty()) {
    std::vector<pid_t> tids;
    if (list_tasks(pid, &tids) == 0) {
      for (pid_t tid : tids) {
        if (read_whole_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/maps", &text_) == 0 &&
            !text_.empty())
          break;
      }
    }
  }
  regions_.clear();
  // Each line: "start-end perms offset dev inode path". Only the first two fields matter here.
  const char* p = text_.c_str();
  const char* end = p + text_.size();
  while (p < end) {
    const char* eol = static_cast<const char*>(memchr(p, '\n', static_cast<size_t>(end - p)));
    if (eol == nullptr) eol = end;
    char* q = nullptr;
    uint64_t start = strtoull(p, &q, 16);
    if (q < eol && *q == '-') {
      uint64_t stop = strtoull(q + 1, &q, 16);
      if (q + 4 < eol && *q == ' ') {
        regions_.push_back(Region{start, stop, q[1] == 'r', q[3] == 'x'});
      }
    }
    p = eol + 1;
  }
  std::sort(regions_.begin(), regions_.end(), [](const Region& a, const Region& b) { return a.start < b.start; });
  return 0;
}

const Region* ProcMaps::find(uint64_t addr) const {
  auto it =
      std::upper_bound(regions_.begin(), regions_.end(), addr, [](uint64_t a, const Region& r) { return a < r.start; });
  if (it == regions_.begin()) return nullptr;
  --it;
  return addr < it->end ? &*it : nullptr;
}

}  // namespace stackshot
