// x86-64 for the unwinder: return addresses are on the stack (no link register, no pointer
// authentication), signal frames are rt_sigframes behind __restore_rt, and code without CFI
// that only drops stack and returns (Python's perf trampolines) can be read at a return site.
#include "arch/unwind_ops.h"

namespace stackshot {
namespace x86_64 {

namespace {

class Ops final : public ArchUnwindOps {
 public:
  FirstFrameRule analyze_first_frame(const CodeWindow& code) const override {
    return x86_64::analyze_first_frame(code);
  }
  bool follows_call(const CodeWindow& code) const override { return x86_64::follows_call(code); }
  bool has_return_sites() const override { return true; }
  FirstFrameRule analyze_return_site(const CodeWindow& code) const override {
    return x86_64::analyze_return_site(code);
  }
  bool ra_in_link_register() const override { return false; }
  uint64_t strip_pointer_auth(uint64_t ra, uint64_t) const override { return ra; }
  bool can_scan_stack() const override { return true; }
  bool is_sigreturn_trampoline(const CodeWindow& code) const override { return x86_64::is_sigreturn_trampoline(code); }
  bool read_signal_context(const StackView& stack, uint64_t sp, SignalContext* out) const override {
    return x86_64::read_signal_context(stack, sp, out);
  }
  std::optional<FramePrologue> find_frame_prologue(const CodeWindow& code) const override {
    return x86_64::find_frame_prologue(code);
  }
};

}  // namespace

const ArchUnwindOps& unwind_ops() {
  static const Ops ops;
  return ops;
}

}  // namespace x86_64
}  // namespace stackshot
