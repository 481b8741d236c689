#include "unwind/fp_walker.h"

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

WalkResult walk_frame_pointers(const UnwindRegs& regs, const StackView& stack,
                               const IsExecutable& is_executable, size_t max_frames) {
  WalkResult out;
  if (max_frames == 0) {
    out.end = EndReason::kMaxFrames;
    return out;
  }
  out.pcs.reserve(64);
  out.methods.reserve(64);
  out.push(regs.pc, FrameMethod::kRegs);

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
