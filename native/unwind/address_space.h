// The target's mappings as the unwinder needs them: which addresses are executable, which
// mapping holds a stack, and for code, the CFI table of its module and the bias that turns an
// address into the module's link-time address (vaddr = addr - bias).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

namespace stackshot {

struct Mapping {
  uint64_t start;
  uint64_t end;
  uint64_t bias;
  int32_t cfi;  // CfiRegistry id, 0 for none (anonymous memory, JIT code, no .eh_frame)
  bool executable;
};

class AddressSpace {
 public:
  explicit AddressSpace(std::vector<Mapping> mappings) : mappings_(std::move(mappings)) {
    std::sort(mappings_.begin(), mappings_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  }
  const Mapping* find(uint64_t addr) const {
    auto it = std::upper_bound(mappings_.begin(), mappings_.end(), addr,
                               [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (it == mappings_.begin()) return nullptr;
    --it;
    return addr < it->end ? &*it : nullptr;
  }
  bool is_executable(uint64_t addr) const {
    const Mapping* m = find(addr);
    return m != nullptr && m->executable;
  }

 private:
  std::vector<Mapping> mappings_;
};

}  // namespace stackshot
