#include "unwind/interrupted_stack.h"

#include <algorithm>
#include <cstring>

namespace stackshot {

namespace {
// Enough of the ucontext for x86_64::read_signal_context (it reads up to rip).
constexpr size_t kUcontextBytes = 256;
}  // namespace

bool read_interrupted_stack(const TargetMemory& memory, const AddressSpace& space, uint64_t ucontext_sp,
                            const SignalContext& interrupted, std::vector<uint8_t>* storage, StackView* out) {
  const Mapping* m = space.find(interrupted.sp);
  if (m == nullptr || m->executable) return false;  // a stack is never code
  const size_t want = static_cast<size_t>(std::min<uint64_t>(m->end - interrupted.sp, kInterruptedStackMax));
  storage->assign(want, 0);
  const size_t got = memory.read(interrupted.sp, storage->data(), want);
  if (got < 8) return false;
  storage->resize(got);
  // The handler still runs: its ucontext holds the same interrupted registers as at the stop.
  uint8_t uc[kUcontextBytes];
  const size_t uc_got = memory.read(ucontext_sp, uc, sizeof(uc));
  StackView again{ucontext_sp, uc, uc_got, ucontext_sp, ucontext_sp + uc_got};
  SignalContext now;
  if (!x86_64::read_signal_context(again, ucontext_sp, &now)) return false;
  if (now.sp != interrupted.sp || now.pc != interrupted.pc || now.fp != interrupted.fp) return false;
  *out = StackView{interrupted.sp, storage->data(), storage->size(), m->start, m->end};
  return true;
}

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
