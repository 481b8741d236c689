// A thread's stack as copied out of the target: bytes [sp, sp + size) of its memory, plus the
// bounds of the mapping it lives in (the walk may not leave it).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace stackshot {

struct StackView {
  uint64_t base = 0;  // remote address of bytes[0] (the stack pointer at the stop)
  const uint8_t* bytes = nullptr;
  size_t size = 0;
  uint64_t mapping_start = 0;  // the stack mapping that contains base
  uint64_t mapping_end = 0;

  bool in_mapping(uint64_t addr) const { return addr >= mapping_start && addr < mapping_end; }
  bool copied(uint64_t addr, size_t len) const { return addr >= base && addr - base + len <= size; }
  // Reads a word at a remote address; the caller checks copied() first.
  uint64_t word(uint64_t addr) const {
    uint64_t v;
    std::memcpy(&v, bytes + (addr - base), sizeof(v));
    return v;
  }
};

}  // namespace stackshot
