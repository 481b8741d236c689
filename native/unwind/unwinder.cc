#include "unwind/unwinder.h"

#include <optional>

#include "arch/unwind_ops.h"
#include "unwind/interrupted_stack.h"
#include "unwind/stack_scan.h"
#include "unwind/stack_extension.h"

namespace stackshot {

namespace {

// Where a frame stands: its pc and the registers the next step needs. The pc of every frame is
// a return address, looked up at pc - 1 so a call that ends a function finds that function's
// rule, except three exact ones: the innermost frame, a frame a signal interrupted (its pc
// restored from the signal frame), and the signal trampoline (a handler returns to its first
// byte; its CFI is found at pc - 1 still: glibc pads one byte before it for that lookup).
// This is the only place that rule lives: each frame carries it out (WalkResult), and naming,
// lines and every output format use that flag.
struct FrameState {
  uint64_t pc;
  uint64_t sp;
  uint64_t fp;
  uint64_t lr;
  bool exact_pc;         // not a return address: the innermost frame, or one interrupted by a signal
  bool fp_known = true;  // false until a frame restores fp from the stack (partial_regs)
  bool lr_known = true;

  // The address this frame's code is looked up at (CFI, the mapping, the callee of a scan).
  uint64_t lookup() const { return exact_pc ? pc : pc - 1; }
};

struct Step {
  bool ended;
  EndReason reason;
  FrameState next;
  FrameMethod method;
  bool keep_next = false;  // ended, but `next` is a real frame still (a return address into unmapped code)
};

Step ended(EndReason reason) { return Step{true, reason, {}, FrameMethod::kRegs}; }
Step to(const FrameState& next, FrameMethod method) { return Step{false, EndReason::kEndOfChain, next, method}; }
Step ended_at(const FrameState& last, FrameMethod method, EndReason reason) {
  return Step{true, reason, last, method, true};
}
// A rule that may not apply here (a signal trampoline, a prologue, a return site): nullopt when
// it does not, and the walk tries the next rule.
using MaybeStep = std::optional<Step>;

// Code bytes around addr, as far as they can be read.
struct CodeBytes {
  uint8_t bytes[kCodeBefore + kCodeAfter];
  CodeWindow window{nullptr, 0, 0};
  CodeBytes(uint64_t addr, const ReadCode& read_code) {
    const size_t before = addr >= kCodeBefore ? kCodeBefore : 0;
    size_t got = read_code(addr - before, bytes, before + kCodeAfter);
    if (got < before) {  // the bytes before addr are in another (unreadable) page: retry from addr
      got = read_code(addr, bytes + before, kCodeAfter);
      if (got > 0) window = CodeWindow{bytes + before, 0, got};
      return;
    }
    window = CodeWindow{bytes + before, before, got - before};
  }
};

class Unwinder {
 public:
  Unwinder(const UnwindInput& in, const AddressSpace& space, CfiRegistry& cfi, const ReadCode& read_code)
      : in_(in), arch_(unwind_ops(in.arch)), stack_(in.stack), space_(space), cfi_(cfi), read_code_(read_code) {}

  WalkResult run(size_t max_frames) {
    WalkResult out;
    if (max_frames == 0) {
      out.end = EndReason::kMaxFrames;
      return out;
    }
    out.pcs.reserve(64);
    out.methods.reserve(64);
    out.fps.reserve(64);
    FrameState f{in_.regs.pc, in_.regs.sp, in_.regs.fp, in_.regs.lr, true, !in_.partial_regs, !in_.partial_regs};
    out.push(f.pc, FrameMethod::kRegs, f.fp, false);
    for (bool innermost = true;; innermost = false) {
      if (out.pcs.size() >= max_frames) {
        out.end = trusted_end(EndReason::kMaxFrames);
        return out;
      }
      Step s = step(f, innermost || f.exact_pc);
      // A deep stack leads past the copy: read more from the target and take the step again.
      while (s.ended && s.reason == EndReason::kCopyExhausted &&
             extend_stack(in_.read_stack, &stack_, &extended_bytes_)) {
        s = step(f, innermost || f.exact_pc);
      }
      if (s.ended) {
        out.end = trusted_end(s.reason);
        // A frame kept with its end (code that is gone) stands only where that end does: a walk
        // on a prologue's fp that ends elsewhere is done again from the registers.
        if (s.keep_next && out.end == s.reason) out.push(s.next.pc, s.method, s.next.fp, !s.next.exact_pc);
        return out;
      }
      if (s.method == FrameMethod::kSignal) out.return_addresses.back() = 0;  // f is the trampoline
      out.push(s.next.pc, s.method, s.next.fp, !s.next.exact_pc);
      f = s.next;
    }
  }

 private:
  // An fp read from a prologue is trusted only for a walk that reached a stack's end: any other
  // end asks for the registers (a stop) instead.
  EndReason trusted_end(EndReason reason) const {
    return fp_from_prologue_ && reason != EndReason::kEndOfChain ? EndReason::kRegisterUnknown : reason;
  }

  // Why the stack at addr was not copied: the copy's limit, or a page it could not read.
  EndReason past_copy(uint64_t addr, size_t len) const {
    if (stack_.in_hole(addr, len) || !stack_.limited) return EndReason::kStackUnreadable;
    return EndReason::kCopyExhausted;
  }

  // One frame outward from f. `first` marks a frame whose registers are all live (the innermost,
  // or one restored from a signal frame): only there may its caller be in lr or at sp.
  Step step(const FrameState& f, bool first) {
    const uint64_t lookup = f.lookup();
    const Mapping* m = space_.find_loaded(lookup);
    CfiLookup hit;
    if (m != nullptr && m->cfi != 0) {
      if (CfiTable* table = cfi_.get(m->cfi)) hit = table->lookup(lookup - m->bias);
    }
    const bool has_cfi = hit.status == CfiLookupStatus::kFound;
    // A sigreturn trampoline whose CFI does not say so (Go's runtime.sigreturn__sigaction, code
    // without CFI): a return address to it starts its function, and a live pc (the innermost, or
    // restored from a signal frame) may be anywhere in it. There the code decides.
    const bool at_code_start = !has_cfi || hit.fde_end <= f.pc - m->bias || hit.fde_begin == f.pc - m->bias;
    if ((has_cfi && hit.rule.signal_frame) || at_code_start || first) {
      if (MaybeStep s = signal_step(f)) return *s;
    }
    if (has_cfi && usable(hit.rule, first)) {
      if (std::optional<FrameState> g = with_fp_from_prologue(f, hit, *m)) return cfi_step(*g, hit.rule);
      return cfi_step(f, hit.rule);
    }
    if (first) {
      if (MaybeStep s = first_frame_step(f)) return *s;
    } else if (arch_.has_return_sites() && !in_.frame_pointers_only) {
      if (MaybeStep s = return_site_step(f)) return *s;
    }
    Step s = frame_pointer_step(f);
    if (s.ended && !has_cfi && scan_allowed(s.reason)) return scan_step(f, s);
    return s;
  }

  // A blocked thread's capture has pc and sp only. A frame-pointer-compiled caller of a wrapper
  // that leaves %rbp alone finds its CFA from %rbp (fp + 16): where its code has the standard
  // prologue, and its CFI agrees where that prologue pushes and sets fp, its sp at the call is
  // fp − depth, less any arguments it pushed for the call (a 7th argument, as syscall(2) takes
  // for futex, and its alignment word). fp is the first of sp + depth + 0..32 that holds a frame
  // record: a frame pointer above it and a return address that follows a call (the first: its
  // caller's record may well lie 16 bytes above it). And a walk that used such an fp must end
  // where a stack ends (trusted_end), or the thread is stopped instead.
  std::optional<FrameState> with_fp_from_prologue(const FrameState& f, const CfiLookup& hit, const Mapping& m) {
    const UnwindRule& r = hit.rule;
    if (!in_.partial_regs || f.fp_known || r.cfa_kind != CfaKind::kFpOffset || r.cfa_offset != 16) return std::nullopt;
    uint8_t code[64];
    const size_t got = read_code_(m.bias + hit.fde_begin, code, sizeof code);
    const std::optional<FramePrologue> p = arch_.find_frame_prologue(CodeWindow{code, 0, got});
    if (!p || !cfi_confirms(*p, hit, m)) return std::nullopt;
    std::optional<uint64_t> found;
    for (uint64_t pushed = 0; pushed <= kMaxPushedArguments && !found; pushed += 8) {
      if (frame_record_at(f.sp + p->depth + pushed)) found = f.sp + p->depth + pushed;
    }
    if (!found) return std::nullopt;
    fp_from_prologue_ = true;
    FrameState g = f;
    g.fp = *found;
    g.fp_known = true;
    return g;
  }
  static constexpr uint64_t kMaxPushedArguments = 32;

  bool frame_record_at(uint64_t fp) {
    if (!stack_.copied(fp, 16)) return false;
    const uint64_t saved_fp = stack_.word(fp);
    const uint64_t ra = stack_.word(fp + 8);
    if ((saved_fp != 0 && saved_fp <= fp) || !code_address(ra)) return false;
    CodeBytes at_ra(ra, read_code_);
    return at_ra.window.at_pc != nullptr && arch_.follows_call(at_ra.window);
  }

  // After the push the CFA is sp + 16; from where fp is set, fp + 16.
  bool cfi_confirms(const FramePrologue& p, const CfiLookup& hit, const Mapping& m) {
    CfiTable* table = cfi_.get(m.cfi);
    if (table == nullptr) return false;
    const CfiLookup pushed = table->lookup(hit.fde_begin + p.push_at + 1);
    const CfiLookup set = table->lookup(hit.fde_begin + p.frame_set_at);
    return pushed.status == CfiLookupStatus::kFound && pushed.rule.cfa_kind == CfaKind::kSpOffset &&
           pushed.rule.cfa_offset == 16 && set.status == CfiLookupStatus::kFound &&
           set.rule.cfa_kind == CfaKind::kFpOffset && set.rule.cfa_offset == 16;
  }

  // Code with neither CFI nor a frame record: search the stack (stack_scan.h). Not where the
  // frame-pointer step ran out of copy or registers: more copy, or a stop, serves better.
  bool scan_allowed(EndReason fp_end) const {
    return in_.stack_scan && !in_.frame_pointers_only && arch_.can_scan_stack() &&
           fp_end != EndReason::kRegisterUnknown && fp_end != EndReason::kCopyExhausted &&
           fp_end != EndReason::kStackUnreadable;
  }

  Step scan_step(const FrameState& f, const Step& fp_end) {
    const ScanHit hit = scan_for_return_address(stack_, space_, read_code_, f.sp, f.lookup());
    if (hit.status == ScanStatus::kPastCopy) return ended(past_copy(hit.slot, 8));
    if (hit.status != ScanStatus::kFound) return fp_end;
    return to(FrameState{hit.ra, hit.slot + 8, f.fp, 0, false, f.fp_known, !in_.partial_regs}, FrameMethod::kScan);
  }

  // A return address lies in executable code, and never in the thread's own stack (an rwx stack
  // would pass the first test: a walk run past its entry finds stack addresses there).
  bool code_address(uint64_t addr) const { return space_.is_executable(addr) && !stack_.in_mapping(addr); }

  bool usable(const UnwindRule& r, bool first) const {
    if (r.cfa_kind == CfaKind::kUnsupported) return false;
    if (r.ra_kind == RegRuleKind::kAtCfaOffset || r.ra_kind == RegRuleKind::kUndefined) return true;
    // Leaf code (aarch64): the return address is still in the link register, known only in a live frame.
    return arch_.ra_in_link_register() && r.ra_kind == RegRuleKind::kUnchanged && first;
  }

  Step cfi_step(const FrameState& f, const UnwindRule& r) {
    // The CFI says this is the outermost frame (_start, the clone3 child): the stack ends here.
    if (r.ra_kind == RegRuleKind::kUndefined) return ended(EndReason::kEndOfChain);
    uint64_t cfa;
    switch (r.cfa_kind) {
      case CfaKind::kSpOffset: cfa = f.sp + static_cast<int64_t>(r.cfa_offset); break;
      case CfaKind::kFpOffset:
        if (!f.fp_known) return ended(EndReason::kRegisterUnknown);
        cfa = f.fp + static_cast<int64_t>(r.cfa_offset);
        break;
      case CfaKind::kPltExpression:
        cfa = f.sp + static_cast<int64_t>(r.cfa_offset) + ((f.pc & 15) >= r.plt_threshold ? 8 : 0);
        break;
      default: return ended(EndReason::kEndOfChain);
    }
    const bool ra_in_lr = r.ra_kind == RegRuleKind::kUnchanged;
    if (ra_in_lr && !f.lr_known) return ended(EndReason::kRegisterUnknown);
    // Each caller's frame lies above its callee's: a CFA below the stack pointer is garbage.
    if (cfa < f.sp || (cfa == f.sp && !ra_in_lr)) return ended(EndReason::kCfaNotIncreasing);
    if (!stack_.in_mapping(cfa - 1)) return ended(EndReason::kCfaOutsideStack);
    uint64_t ra = f.lr;
    if (!ra_in_lr) {
      const uint64_t slot = cfa + static_cast<int64_t>(r.ra_offset);
      if (!stack_.copied(slot, 8)) return ended(past_copy(slot, 8));
      ra = stack_.word(slot);
    }
    uint64_t fp = f.fp;
    // A caller's fp is known if this frame saved it, or if it is the callee's (known) value.
    bool fp_known = f.fp_known && r.fp_kind == RegRuleKind::kUnchanged;
    if (r.fp_kind == RegRuleKind::kAtCfaOffset) {
      const uint64_t slot = cfa + static_cast<int64_t>(r.fp_offset);
      if (!stack_.copied(slot, 8)) return ended(past_copy(slot, 8));
      fp = stack_.word(slot);
      fp_known = true;
    }
    if (!in_.partial_regs) fp_known = true;  // a stopped thread's registers: as before
    ra = arch_.strip_pointer_auth(ra, in_.pac_mask);
    if (ra == 0) return ended(EndReason::kEndOfChain);
    const FrameMethod method = ra_in_lr ? FrameMethod::kLinkRegister : FrameMethod::kCfi;
    // The CFI is exact: a return address in no mapping at all is a real caller whose code is gone
    // (a dlclose'd library). Keep its frame, as eu-stack and gdb do, and end there.
    if (space_.find(ra) == nullptr)
      return ended_at(FrameState{ra, cfa, fp, 0, false}, method, EndReason::kRaNotExecutable);
    if (!code_address(ra)) return ended(EndReason::kRaNotExecutable);
    // Where the CFI says the return address is still in the link register, say so.
    return to(FrameState{ra, cfa, fp, 0, false, fp_known, !in_.partial_regs}, method);
  }

  // The signal trampoline: continue from the registers saved in the ucontext on the stack.
  MaybeStep signal_step(const FrameState& f) {
    CodeBytes code(f.pc, read_code_);
    if (code.window.at_pc == nullptr || !arch_.is_sigreturn_trampoline(code.window)) {
      return std::nullopt;
    }
    SignalContext ctx;
    if (!arch_.read_signal_context(stack_, f.sp, &ctx)) return ended(past_copy(f.sp, 8));
    if (!code_address(ctx.pc)) return ended(EndReason::kRaNotExecutable);
    // The handler ran on another stack: an alternate one (sigaltstack), which Go's signal stacks
    // are, in the same mapping as the stacks they interrupt. Go on on the interrupted one.
    if (!stack_.in_mapping(ctx.sp) || ctx.sp <= f.sp) {
      if (++stack_switches_ > kMaxStackSwitches) return ended(EndReason::kCfaNotIncreasing);
      StackView interrupted;
      if (!read_interrupted_stack(arch_, in_.read_stack, space_, f.sp, ctx, &interrupted_bytes_, &interrupted)) {
        return ended(EndReason::kInterruptedStackUnreadable);
      }
      stack_ = interrupted;
    }
    return to(FrameState{ctx.pc, ctx.sp, ctx.fp, ctx.lr, true}, FrameMethod::kSignal);
  }

  // A live frame without CFI may have no frame record of its own yet (prologue) or any more
  // (epilogue): the code at the pc says where its caller's return address is.
  MaybeStep first_frame_step(const FrameState& f) {
    CodeBytes code(f.pc, read_code_);
    if (code.window.at_pc == nullptr) return std::nullopt;
    const FirstFrameRule rule = arch_.analyze_first_frame(code.window);
    switch (rule.kind) {
      case FirstFrameKind::kFrameRecord: return std::nullopt;
      case FirstFrameKind::kLinkRegister: {
        if (!f.lr_known) return std::nullopt;
        const uint64_t ra = arch_.strip_pointer_auth(f.lr, in_.pac_mask);
        if (ra == 0 || !code_address(ra)) return std::nullopt;
        return to(FrameState{ra, f.sp, f.fp, 0, false, f.fp_known, !in_.partial_regs}, FrameMethod::kLinkRegister);
      }
      case FirstFrameKind::kAtSp:
      case FirstFrameKind::kAtSpIfCall: {
        const uint64_t slot = f.sp + rule.sp_offset;
        if (!stack_.copied(slot, 8)) return std::nullopt;
        const uint64_t ra = stack_.word(slot);
        if (!code_address(ra)) return std::nullopt;
        if (rule.kind == FirstFrameKind::kAtSpIfCall) {
          CodeBytes at_ra(ra, read_code_);
          if (at_ra.window.at_pc == nullptr || !arch_.follows_call(at_ra.window)) return std::nullopt;
        }
        // The frame pointer still holds the caller's value: the caller's record is at fp.
        return to(FrameState{ra, slot + 8, f.fp, 0, false, f.fp_known, !in_.partial_regs}, FrameMethod::kStackPointer);
      }
    }
    return std::nullopt;
  }

  // A caller frame without CFI whose code, from the return address on, only drops stack and
  // returns (Python's perf trampoline: `sub $8,%rsp; call *%rcx; add $8,%rsp; ret`): it keeps no
  // frame record, so the frame pointer still belongs to a frame further out, and the code
  // itself says where its caller's return address is. sp is exact here: the callee's CFA.
  MaybeStep return_site_step(const FrameState& f) {
    CodeBytes code(f.pc, read_code_);
    if (code.window.at_pc == nullptr) return std::nullopt;
    const FirstFrameRule rule = arch_.analyze_return_site(code.window);
    if (rule.kind != FirstFrameKind::kAtSp) return std::nullopt;
    const uint64_t slot = f.sp + rule.sp_offset;
    if (!stack_.copied(slot, 8)) return std::nullopt;
    const uint64_t ra = stack_.word(slot);
    if (ra == 0 || !code_address(ra)) return std::nullopt;
    return to(FrameState{ra, slot + 8, f.fp, 0, false, f.fp_known, !in_.partial_regs}, FrameMethod::kStackPointer);
  }

  // A frame record at fp: [fp] = the caller's frame pointer, [fp + 8] = the return address.
  Step frame_pointer_step(const FrameState& f) {
    if (!f.fp_known) return ended(EndReason::kRegisterUnknown);
    const uint64_t fp = f.fp;
    if (fp == 0) return ended(EndReason::kEndOfChain);
    if (fp % 8 != 0) return ended(EndReason::kFpMisaligned);
    if (!stack_.in_mapping(fp) || !stack_.in_mapping(fp + 15)) return ended(EndReason::kFpOutsideStack);
    if (fp < f.sp) return ended(EndReason::kFpNotIncreasing);  // a record cannot be below the stack pointer
    if (!stack_.copied(fp, 16)) return ended(past_copy(fp, 16));
    const uint64_t ra = arch_.strip_pointer_auth(stack_.word(fp + 8), in_.pac_mask);
    if (ra == 0) return ended(EndReason::kEndOfChain);
    if (!code_address(ra)) return ended(EndReason::kRaNotExecutable);
    return to(FrameState{ra, fp + 16, stack_.word(fp), 0, false}, FrameMethod::kFramePointer);
  }

  const UnwindInput& in_;
  const ArchUnwindOps& arch_;  // chosen once, from in_.arch
  StackView stack_;            // the copy; replaced by the interrupted stack past a sigaltstack handler
  std::vector<uint8_t> interrupted_bytes_;
  // Signal frames whose handler ran on another stack, each a switch: a few nest, a loop does not end.
  static constexpr int kMaxStackSwitches = 8;
  int stack_switches_ = 0;
  std::vector<uint8_t> extended_bytes_;  // the copy and what was read beyond it (deep stacks)
  bool fp_from_prologue_ = false;        // a frame's fp came from its prologue (with_fp_from_prologue)
  const AddressSpace& space_;
  CfiRegistry& cfi_;
  const ReadCode& read_code_;
};

}  // namespace

// In EndReason's order.
constexpr const char* kEndReasonNames[] = {
    "end-of-chain",       "fp-not-increasing", "fp-misaligned",    "fp-outside-stack",
    "cfa-outside-stack",  "ra-not-executable", "max-frames",       "copy-exhausted",
    "cfa-not-increasing", "stack-unreadable",  "register-unknown", "interrupted-stack-unreadable",
};
static_assert(sizeof(kEndReasonNames) / sizeof(kEndReasonNames[0]) == static_cast<size_t>(EndReason::kCount),
              "one name per EndReason");

const char* end_reason_name(EndReason reason) {
  const auto i = static_cast<size_t>(reason);
  return i < static_cast<size_t>(EndReason::kCount) ? kEndReasonNames[i] : kEndReasonNames[0];
}

WalkResult unwind_thread(const UnwindInput& input, const AddressSpace& space, CfiRegistry& cfi,
                         const ReadCode& read_code, size_t max_frames) {
  return Unwinder(input, space, cfi, read_code).run(max_frames);
}

}  // namespace stackshot
