// A signal handler returns through a trampoline (__restore_rt on x86-64) that calls
// rt_sigreturn; the registers of the interrupted code are saved in a ucontext on the stack.
// At the trampoline, the walk continues from those registers instead of a return address.
#pragma once
#include <cstdint>

#include "arch/first_frame.h"
#include "unwind/stack_view.h"

namespace stackshot {

struct SignalContext {
  uint64_t pc;
  uint64_t sp;
  uint64_t fp;
  uint64_t lr;
};

namespace x86_64 {
// True if pc is in the rt_sigreturn trampoline (mov $15,%rax; syscall): at its start, at its
// syscall, or just after it (a thread inside rt_sigreturn, whose sp is still at the ucontext).
bool is_sigreturn_trampoline(const CodeWindow& code);
// Reads the interrupted registers from the ucontext that sits at sp in the trampoline.
bool read_signal_context(const StackView& stack, uint64_t sp, SignalContext* out);
}  // namespace x86_64

}  // namespace stackshot
