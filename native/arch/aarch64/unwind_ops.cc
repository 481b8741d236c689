// aarch64 for the unwinder: a leaf function's return address stays in x30 (lr), return
// addresses may carry pointer-authentication bits above the 48-bit virtual address, and signal
// frames are not crossed yet (the walk ends at the trampoline).
#include "arch/unwind_ops.h"

namespace stackshot {
namespace aarch64 {

namespace {

constexpr uint64_t kVirtualAddressMask = (uint64_t{1} << 48) - 1;

class Ops final : public ArchUnwindOps {
 public:
  FirstFrameRule analyze_first_frame(const CodeWindow& code) const override {
    return aarch64::analyze_first_frame(code);
  }
  bool follows_call(const CodeWindow& code) const override { return aarch64::follows_call(code); }
  bool has_return_sites() const override { return false; }
  FirstFrameRule analyze_return_site(const CodeWindow&) const override { return {}; }
  bool ra_in_link_register() const override { return true; }
  // The kernel's mask, else all bits from 48 (a 48-bit address space); and the top byte, which
  // the MMU ignores (TBI) and code may tag.
  uint64_t strip_pointer_auth(uint64_t ra, uint64_t pac_mask) const override {
    constexpr uint64_t kTopByte = uint64_t{0xff} << 56;
    return pac_mask != 0 ? ra & ~(pac_mask | kTopByte) : ra & kVirtualAddressMask;
  }
  // After a scan the caller's sp is unknown: x30 may be saved anywhere in the frame.
  bool can_scan_stack() const override { return false; }
  bool is_sigreturn_trampoline(const CodeWindow&) const override { return false; }
  bool read_signal_context(const StackView&, uint64_t, SignalContext*) const override { return false; }
  // Not read from aarch64 code yet: a blocked thread that needs x29 is stopped instead.
  std::optional<FramePrologue> find_frame_prologue(const CodeWindow&) const override { return std::nullopt; }
};

}  // namespace

const ArchUnwindOps& unwind_ops() {
  static const Ops ops;
  return ops;
}

}  // namespace aarch64
}  // namespace stackshot
