// A thread's stack as copied out of the target: bytes [sp, sp + size) of its memory, plus the
// bounds of the mapping it lives in (the walk may not leave it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace stackshot {

// Pages inside a copy that were not read (not in memory: see StackReader::read_resident).
struct StackHole {
  uint32_t offset;  // from the copy's start
  uint32_t length;
};

struct StackView {
  uint64_t base = 0;  // remote address of bytes[0] (the stack pointer at the stop)
  const uint8_t* bytes = nullptr;
  size_t size = 0;
  uint64_t mapping_start = 0;  // the stack mapping that contains base
  uint64_t mapping_end = 0;
  // The copy ended at its limit (stackBytes); false: at a page that could not be read (not
  // resident, PROT_NONE, SIGBUS-backed) or at the end of the mapping.
  bool limited = true;
  const StackHole* holes = nullptr;
  size_t hole_count = 0;

  bool in_mapping(uint64_t addr) const { return addr >= mapping_start && addr < mapping_end; }
  bool copied(uint64_t addr, size_t len) const {
    return addr >= base && addr - base + len <= size && !in_hole(addr, len);
  }
  // Whether [addr, addr + len) touches a page the copy skipped.
  bool in_hole(uint64_t addr, size_t len) const {
    for (size_t i = 0; i < hole_count; ++i) {
      const uint64_t start = base + holes[i].offset;
      if (addr < start + holes[i].length && addr + len > start) return true;
    }
    return false;
  }
  // Reads a word at a remote address; the caller checks copied() first.
  uint64_t word(uint64_t addr) const {
    uint64_t v;
    std::memcpy(&v, bytes + (addr - base), sizeof(v));
    return v;
  }
};

}  // namespace stackshot
