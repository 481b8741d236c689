// The live target's memory as the unwinder reads it after the threads ran again: for the parts
// of a stack the stop's copy does not hold. Empty offline (no process to read).
#pragma once
#include <cstddef>
#include <cstdint>

namespace stackshot {

// Copies up to n bytes at addr, returns the count (0 when unavailable).
using TargetMemoryFn = size_t (*)(void* ctx, uint64_t addr, uint8_t* out, size_t n);

struct TargetMemory {
  TargetMemoryFn fn = nullptr;
  void* ctx = nullptr;
  size_t read(uint64_t addr, uint8_t* out, size_t n) const { return fn == nullptr ? 0 : fn(ctx, addr, out, n); }
};

}  // namespace stackshot
