// aarch64 analysis for the innermost frame: at a function's entry (before
// `stp x29, x30, [sp, #-N]!`, optionally after `paciasp` / `bti c`) and at `ret`, the caller's
// return address is still in the link register x30 and x29 is the caller's frame pointer.
#include <cstring>

#include "arch/first_frame.h"

namespace stackshot {
namespace aarch64 {

namespace {

bool insn_at(const CodeWindow& c, long offset, uint32_t* out) {
  if (offset < -static_cast<long>(c.before) || offset + 4 > static_cast<long>(c.after)) return false;
  std::memcpy(out, c.at_pc + offset, 4);
  return true;
}

bool is_stp_fp_lr_pre_index(uint32_t insn) {
  // STP (64-bit, pre-index): 1010 1001 10 imm7 Rt2 Rn Rt, with Rt=29, Rt2=30, Rn=31 (sp).
  return (insn & 0xffc07fff) == 0xa9807bfd;
}

constexpr uint32_t kRet = 0xd65f03c0;
constexpr uint32_t kPaciasp = 0xd503233f;
constexpr uint32_t kBtiC = 0xd503245f;

}  // namespace

FirstFrameRule analyze_first_frame(const CodeWindow& c) {
  uint32_t insn;
  if (!insn_at(c, 0, &insn)) return {};
  if (insn == kRet || insn == kPaciasp || insn == kBtiC || is_stp_fp_lr_pre_index(insn)) {
    return {FirstFrameKind::kLinkRegister, 0};
  }
  return {};
}

bool follows_call(const CodeWindow& c) {
  uint32_t insn;
  if (!insn_at(c, -4, &insn)) return false;
  return (insn & 0xfc000000) == 0x94000000      // BL imm26
         || (insn & 0xfffffc1f) == 0xd63f0000   // BLR Xn
         || (insn & 0xfffff800) == 0xd63f0800;  // BLRAA/BLRAB family (pointer authentication)
}

}  // namespace aarch64
}  // namespace stackshot
