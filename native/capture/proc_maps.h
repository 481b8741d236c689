// The target's address space as /proc/<pid>/maps states it: read before the first stop (the
// walk validates against it) and handed to TypeScript as text for symbolization.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace stackshot {

struct Region {
  uint64_t start;
  uint64_t end;
  bool readable;
  bool executable;
};

class ProcMaps {
 public:
  // Reads /proc/<pid>/maps. Returns 0 or an errno value (ENOENT when the process is gone).
  int read(pid_t pid);

  const std::string& text() const { return text_; }
  // The region containing addr, or nullptr.
  const Region* find(uint64_t addr) const;
  bool is_executable(uint64_t addr) const {
    const Region* r = find(addr);
    return r != nullptr && r->executable;
  }

 private:
  std::string text_;
  std::vector<Region> regions_;  // sorted by start, as the kernel prints them
};

}  // namespace stackshot
