#include "unwind/interrupted_stack.h"

#include <algorithm>

namespace stackshot {

namespace {
// Enough of the signal frame for read_signal_context (x86-64 reads its ucontext up to rip).
constexpr size_t kUcontextBytes = 256;
}  // namespace

bool read_interrupted_stack(const ArchUnwindOps& arch, const TargetMemory& memory, const AddressSpace& space,
                            uint64_t ucontext_sp, const SignalContext& interrupted, std::vector<uint8_t>* storage,
                            StackView* out) {
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
  if (!arch.read_signal_context(again, ucontext_sp, &now)) return false;
  if (now.sp != interrupted.sp || now.pc != interrupted.pc || now.fp != interrupted.fp) return false;
  *out = StackView{interrupted.sp, storage->data(), storage->size(), m->start, m->end};
  return true;
}

}  // namespace stackshot
