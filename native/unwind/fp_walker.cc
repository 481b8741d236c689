#include "unwind/fp_walker.h"

#include "arch/first_frame.h"

namespace stackshot {

const char* end_reason_name(EndReason reason) {
  switch (reason) {
    case EndReason::kEndOfChain: return "end-of-chain";
    case EndReason::kFpNotIncreasing: return "fp-not-increasing";
    case EndReason::kFpMisaligned: return "fp-misaligned";
    case EndReason::kFpOutsideStack: return "fp-outside-stack";
    case EndReason::kRaNotExecutable: return "ra-not-executable";
    case EndReason::kMaxFrames: return "max-frames";
    case EndReason::kCopyExhausted: return "copy-exhausted";
  }
  return "end-of-chain";
}

namespace {

// Code bytes around addr, as far as they can be read.
struct CodeBytes {
  uint8_t bytes[kCodeBefore + kCodeAfter];
  CodeWindow window{nullptr, 0, 0};
  CodeBytes(uint64_t addr, const ReadCode& read_code) {
    const size_t before = addr >= kCodeBefore ? kCodeBefore : 0;
    size_t got = read_code(addr - before, bytes, before + kCodeAfter);
    if (got < before) {  // the bytes before addr are in another (unreadable) page: retry from addr
      got = read_code(addr, bytes + before, kCodeAfter);
      if (got == 0) return;
      window = CodeWindow{bytes + before, 0, got};
      return;
    }
    window = CodeWindow{bytes + before, before, got - before};
  }
};

// The caller of the innermost frame when that frame has no record of its own (0 if it has).
uint64_t caller_without_record(const UnwindRegs& regs, const StackView& stack, const IsExecutable& is_executable,
                               const ReadCode& read_code, FrameMethod* how) {
  CodeBytes code(regs.pc, read_code);
  if (code.window.at_pc == nullptr) return 0;
  const FirstFrameRule rule = analyze_first_frame(code.window);
  if (rule.kind == FirstFrameKind::kFrameRecord) return 0;
  if (rule.kind == FirstFrameKind::kLinkRegister) {
    *how = FrameMethod::kLinkRegister;
    return is_executable(regs.lr) ? regs.lr : 0;
  }
  const uint64_t slot = regs.sp + rule.sp_offset;
  if (!stack.copied(slot, 8)) return 0;
  const uint64_t ra = stack.word(slot);
  if (!is_executable(ra)) return 0;
  if (rule.kind == FirstFrameKind::kAtSpIfCall && !follows_call(CodeBytes(ra, read_code).window)) return 0;
  *how = FrameMethod::kStackPointer;
  return ra;
}

}  // namespace

WalkResult walk_frame_pointers(const UnwindRegs& regs, const StackView& stack, const IsExecutable& is_executable,
                               const ReadCode& read_code, size_t max_frames) {
  WalkResult out;
  if (max_frames == 0) {
    out.end = EndReason::kMaxFrames;
    return out;
  }
  out.pcs.reserve(64);
  out.methods.reserve(64);
  out.push(regs.pc, FrameMethod::kRegs);
  FrameMethod how = FrameMethod::kStackPointer;
  if (uint64_t caller = caller_without_record(regs, stack, is_executable, read_code, &how)) {
    if (out.pcs.size() >= max_frames) {
      out.end = EndReason::kMaxFrames;
      return out;
    }
    out.push(caller, how);  // the frame pointer still points at the caller's own record
  }

  uint64_t fp = regs.fp;
  uint64_t lowest = regs.sp;  // a frame record can never sit below the stack pointer
  for (;;) {
    if (out.pcs.size() >= max_frames) {
      out.end = EndReason::kMaxFrames;
      return out;
    }
    if (fp == 0) {
      out.end = EndReason::kEndOfChain;
      return out;
    }
    if (fp % 8 != 0) {
      out.end = EndReason::kFpMisaligned;
      return out;
    }
    if (!stack.in_mapping(fp) || !stack.in_mapping(fp + 15)) {
      out.end = EndReason::kFpOutsideStack;
      return out;
    }
    if (fp < lowest) {
      out.end = EndReason::kFpNotIncreasing;
      return out;
    }
    if (!stack.copied(fp, 16)) {
      out.end = EndReason::kCopyExhausted;
      return out;
    }
    const uint64_t next_fp = stack.word(fp);
    const uint64_t ra = stack.word(fp + 8);
    if (ra == 0) {
      out.end = EndReason::kEndOfChain;
      return out;
    }
    if (!is_executable(ra)) {
      out.end = EndReason::kRaNotExecutable;
      return out;
    }
    out.push(ra, FrameMethod::kFramePointer);
    if (next_fp != 0 && next_fp <= fp) {
      out.end = out.pcs.size() >= max_frames ? EndReason::kMaxFrames : EndReason::kFpNotIncreasing;
      return out;
    }
    lowest = fp + 16;
    fp = next_fp;
  }
}

}  // namespace stackshot
