#include "capture/mem_files.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace stackshot {

namespace {

// Targets whose pairs are held; the least recently used goes first.
constexpr size_t kHeldPids = 16;

std::mutex held_mutex;
std::vector<std::pair<pid_t, std::shared_ptr<const MemFiles>>> held;  // most recently used last

// The pagemap entry of the first page: 8 bytes from a live address space, none from a dead one.
bool still_bound(const MemFiles& f) {
  uint64_t entry;
  return f.pagemap != -1 && pread(f.pagemap, &entry, sizeof entry, 0) == static_cast<ssize_t>(sizeof entry);
}

}  // namespace

MemFiles::~MemFiles() {
  if (mem != -1) close(mem);
  if (pagemap != -1) close(pagemap);
}

std::shared_ptr<const MemFiles> open_mem_files(pid_t pid) {
  auto f = std::make_shared<MemFiles>();
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  f->mem = open((dir + "mem").c_str(), O_RDONLY | O_CLOEXEC);
  f->pagemap = open((dir + "pagemap").c_str(), O_RDONLY | O_CLOEXEC);
  return f;
}

std::shared_ptr<const MemFiles> held_mem_files(pid_t pid) {
  std::lock_guard<std::mutex> lock(held_mutex);
  for (auto it = held.begin(); it != held.end(); ++it) {
    if (it->first != pid) continue;
    std::shared_ptr<const MemFiles> f = std::move(it->second);
    held.erase(it);
    if (!still_bound(*f)) break;
    held.emplace_back(pid, f);
    return f;
  }
  std::shared_ptr<const MemFiles> f = open_mem_files(pid);
  // One that cannot be opened now (not allowed, no such process) is not kept: it may be later.
  if (f->mem == -1 || f->pagemap == -1) return f;
  if (held.size() >= kHeldPids) held.erase(held.begin());
  held.emplace_back(pid, f);
  return f;
}

}  // namespace stackshot
