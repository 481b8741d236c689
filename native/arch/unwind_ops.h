// What the unwinder asks of an architecture, behind one interface (as framehop splits its
// unwinders per architecture): the unwinder picks the implementation once per walk and never
// branches on the architecture itself. Both are compiled into every build: a capture taken on
// one machine may be unwound on another (offline unwinding, tests on captured aarch64 data).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

#include "arch/first_frame.h"
#include "arch/signal_frame.h"
#include "unwind/cfi/unwind_rule.h"
#include "unwind/stack_view.h"

namespace stackshot {

class ArchUnwindOps {
 public:
  virtual ~ArchUnwindOps() = default;

  // The innermost frame (or one restored from a signal frame) without CFI: where its caller's
  // return address is, read from the code at its pc.
  virtual FirstFrameRule analyze_first_frame(const CodeWindow& code) const = 0;
  // True if the instruction just before `ra` (code.at_pc == ra) is a call: ra is a return address.
  virtual bool follows_call(const CodeWindow& code) const = 0;
  // Whether a caller frame without CFI may be read from the code at its return address
  // (analyze_return_site), and how.
  virtual bool has_return_sites() const = 0;
  virtual FirstFrameRule analyze_return_site(const CodeWindow& code) const = 0;
  // A CFI rule that leaves the return address "unchanged" means it is still in the link register.
  virtual bool ra_in_link_register() const = 0;
  // A return address without pointer-authentication bits: those of `pac_mask` (the kernel's
  // NT_ARM_PAC_MASK; 0 when none was read).
  virtual uint64_t strip_pointer_auth(uint64_t ra, uint64_t pac_mask) const = 0;
  // Whether a frame with neither CFI nor a frame record may be found by scanning the stack
  // (stack_scan.h): only where a return address tells its caller's sp.
  virtual bool can_scan_stack() const = 0;
  // True if pc is in the signal return trampoline: at its start, or (a thread caught inside
  // rt_sigreturn) at or after its system call.
  virtual bool is_sigreturn_trampoline(const CodeWindow& code) const = 0;
  // The interrupted registers, from the signal frame at sp in the trampoline.
  virtual bool read_signal_context(const StackView& stack, uint64_t sp, SignalContext* out) const = 0;
  // At a function's first byte: its frame-pointer prologue, and how far below the frame pointer
  // its sp is once the prologue ran; nullopt where the code does not say (see x86_64's).
  virtual std::optional<FramePrologue> find_frame_prologue(const CodeWindow& code) const = 0;
};

namespace x86_64 {
const ArchUnwindOps& unwind_ops();
}
namespace aarch64 {
const ArchUnwindOps& unwind_ops();
}

inline const ArchUnwindOps& unwind_ops(CfiArch arch) {
  return arch == CfiArch::kAarch64 ? aarch64::unwind_ops() : x86_64::unwind_ops();
}

}  // namespace stackshot
