// x86-64 signal frames. When the handler returns into __restore_rt, its `ret` has popped
// rt_sigframe.pretcode, so sp points at the ucontext: uc_flags (8), uc_link (8),
// uc_stack (24), then uc_mcontext.gregs[23]: r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx,
// rsp, rip, ... (asm/sigcontext.h).
#include "arch/signal_frame.h"

#include <cstring>
#include <initializer_list>

namespace stackshot {
namespace x86_64 {

namespace {
constexpr uint64_t kGregs = 40;
constexpr uint64_t kRbp = kGregs + 10 * 8;
constexpr uint64_t kRsp = kGregs + 15 * 8;
constexpr uint64_t kRip = kGregs + 16 * 8;
constexpr uint8_t kTrampoline[] = {0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05};
}  // namespace

bool is_sigreturn_trampoline(const CodeWindow& code) {
  for (size_t back : {size_t{0}, size_t{7}, size_t{9}}) {
    if (code.before < back || code.after + back < sizeof(kTrampoline)) continue;
    if (std::memcmp(code.at_pc - back, kTrampoline, sizeof(kTrampoline)) == 0) return true;
  }
  return false;
}

bool read_signal_context(const StackView& stack, uint64_t sp, SignalContext* out) {
  if (!stack.copied(sp, kRip + 8)) return false;
  out->fp = stack.word(sp + kRbp);
  out->sp = stack.word(sp + kRsp);
  out->pc = stack.word(sp + kRip);
  out->lr = 0;
  return true;
}

}  // namespace x86_64
}  // namespace stackshot
