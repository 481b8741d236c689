// The target's mappings as the unwinder needs them: which addresses are executable, which
// mapping holds a stack, and for code, the CFI table of its module and the bias that turns an
// address into the module's link-time address (vaddr = addr - bias). A mapping may come
// pending: its module is loaded (by the caller's loader) only when a walk first needs its table,
// so modules no stack passes through are never parsed.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace stackshot {

struct Mapping {
  uint64_t start;
  uint64_t end;
  uint64_t bias;
  int32_t cfi;  // CfiRegistry id, 0 for none (anonymous memory, JIT code, no .eh_frame)
  bool executable;
  /** bias and cfi are not known yet: find_loaded() has the loader fill them first. */
  bool pending = false;
  /** The mapping's place in the caller's input, for the loader. */
  uint32_t row = 0;
};

/** Fills a pending mapping's bias and cfi (or leaves cfi 0: frame pointers will do). */
using LoadMapping = std::function<void(Mapping&)>;

class AddressSpace {
 public:
  explicit AddressSpace(std::vector<Mapping> mappings, LoadMapping load = nullptr)
      : mappings_(std::move(mappings)), load_(std::move(load)) {
    std::sort(mappings_.begin(), mappings_.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
  }
  const Mapping* find(uint64_t addr) const { return holding(addr); }
  /** As find(), with a pending mapping's module loaded first (once). */
  const Mapping* find_loaded(uint64_t addr) const {
    Mapping* m = holding(addr);
    if (m != nullptr && m->pending) {
      m->pending = false;
      if (load_) load_(*m);
    }
    return m;
  }
  bool is_executable(uint64_t addr) const {
    const Mapping* m = find(addr);
    return m != nullptr && m->executable;
  }

 private:
  Mapping* holding(uint64_t addr) const {
    auto it = std::upper_bound(mappings_.begin(), mappings_.end(), addr,
                               [](uint64_t a, const Mapping& m) { return a < m.start; });
    if (it == mappings_.begin()) return nullptr;
    --it;
    return addr < it->end ? &*it : nullptr;
  }

  // Mutable: a pending mapping is filled in on first use, as a cache of what the loader says.
  mutable std::vector<Mapping> mappings_;
  LoadMapping load_;
};

}  // namespace stackshot
