#include "unwind/stack_extension.h"

#include <algorithm>
#include <cstring>

namespace stackshot {

namespace {
// Bytes of the copy's end read again: a thread that returned into them since rewrote them.
constexpr size_t kOverlap = 4096;
// Each extension at least doubles the copy, up to this much stack in all.
constexpr size_t kExtendedMax = 8 << 20;
}  // namespace

bool extend_stack(const TargetMemory& memory, StackView* stack, std::vector<uint8_t>* storage) {
  const uint64_t copy_end = stack->base + stack->size;
  if (memory.fn == nullptr || stack->size < kOverlap || copy_end >= stack->mapping_end || stack->size >= kExtendedMax) {
    return false;
  }
  const size_t more = static_cast<size_t>(std::min<uint64_t>(
      {stack->mapping_end - copy_end, std::max<size_t>(stack->size, 64 << 10), kExtendedMax - stack->size}));
  std::vector<uint8_t> next(stack->size + more);
  std::memcpy(next.data(), stack->bytes, stack->size);
  std::vector<uint8_t> fresh(kOverlap + more);
  const size_t got = memory.read(copy_end - kOverlap, fresh.data(), fresh.size());
  if (got <= kOverlap) return false;
  if (std::memcmp(fresh.data(), stack->bytes + stack->size - kOverlap, kOverlap) != 0) return false;
  std::memcpy(next.data() + stack->size, fresh.data() + kOverlap, got - kOverlap);
  next.resize(stack->size + (got - kOverlap));
  *storage = std::move(next);
  stack->bytes = storage->data();
  stack->size = storage->size();
  return true;
}

}  // namespace stackshot
