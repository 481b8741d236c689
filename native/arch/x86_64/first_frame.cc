// x86-64 prologue / epilogue analysis for the innermost frame (and, at return addresses in code
// without CFI, for the frames above it: see analyze_return_site).
//   push %rbp                 55         -> return address at [sp]
//   mov  %rsp,%rbp            48 89 e5   -> at [sp + 8] (after the push)
//   ret / ret $n              c3 / c2 iw -> at [sp]
// and, for code that runs checks before its prologue (V8's optimized code tests a deopt bit
// first), a standard prologue a few bytes ahead means the return address is still at [sp] --
// accepted only when that word follows a call instruction.
#include "arch/first_frame.h"

namespace stackshot {
namespace x86_64 {

namespace {

bool has(const CodeWindow& c, long offset, size_t n) {
  return offset >= -static_cast<long>(c.before) && offset + static_cast<long>(n) <= static_cast<long>(c.after);
}
uint8_t at(const CodeWindow& c, long offset) { return c.at_pc[offset]; }

bool standard_prologue_at(const CodeWindow& c, long i) {
  return has(c, i, 4) && at(c, i) == 0x55 && at(c, i + 1) == 0x48 && at(c, i + 2) == 0x89 && at(c, i + 3) == 0xe5;
}

bool is_ret(const CodeWindow& c, long i) { return at(c, i) == 0xc3 || at(c, i) == 0xc2; }

// The frame teardown `mov %rbp,%rsp; pop %rbp` (48 89 ec / 48 8b e5, then 5d) or `leave` (c9)
// ends at offset i (exclusive).
bool teardown_ends_at(const CodeWindow& c, long i) {
  if (has(c, i - 1, 1) && at(c, i - 1) == 0xc9) return true;
  if (!has(c, i - 4, 4) || at(c, i - 1) != 0x5d || at(c, i - 4) != 0x48) return false;
  return (at(c, i - 3) == 0x89 && at(c, i - 2) == 0xec) || (at(c, i - 3) == 0x8b && at(c, i - 2) == 0xe5);
}

}  // namespace

FirstFrameRule analyze_first_frame(const CodeWindow& c) {
  if (!has(c, 0, 1)) return {};
  // push %rbp, ret, ret $imm16 (V8 pops its arguments on return)
  if (at(c, 0) == 0x55 || at(c, 0) == 0xc3 || at(c, 0) == 0xc2) return {FirstFrameKind::kAtSp, 0};
  if (has(c, 0, 2) && at(c, 0) == 0xf3 && at(c, 1) == 0xc3) return {FirstFrameKind::kAtSp, 0};  // rep ret
  if (standard_prologue_at(c, -1)) return {FirstFrameKind::kAtSp, 8};
  // Between the frame teardown and the ret (V8 checks its argument count there): the frame
  // pointer is the caller's again and the return address is at [sp].
  for (long back = 0; back <= 8; ++back) {
    if (!teardown_ends_at(c, -back)) continue;
    for (long i = 0; i < 12 && has(c, i, 1); ++i) {
      if (is_ret(c, i)) return {FirstFrameKind::kAtSpIfCall, 0};
    }
  }
  for (long i = 1; has(c, i, 4); ++i) {
    if (is_ret(c, i)) break;  // a return first: we are not before a prologue
    if (standard_prologue_at(c, i)) return {FirstFrameKind::kAtSpIfCall, 0};
  }
  return {};
}

FirstFrameRule analyze_return_site(const CodeWindow& c) {
  if (has(c, 0, 1) && at(c, 0) == 0xc3) return {FirstFrameKind::kAtSp, 0};  // ret
  // add $imm8,%rsp (48 83 c4 ib; a non-negative imm8), then ret
  if (has(c, 0, 5) && at(c, 0) == 0x48 && at(c, 1) == 0x83 && at(c, 2) == 0xc4 && at(c, 3) < 0x80 && at(c, 4) == 0xc3) {
    return {FirstFrameKind::kAtSp, at(c, 3)};
  }
  return {};
}

std::optional<FramePrologue> find_frame_prologue(const CodeWindow& c) {
  long i = 0;
  while (has(c, i, 4) && !standard_prologue_at(c, i) &&
         !(at(c, i) == 0x55 && at(c, i + 1) == 0x48 && at(c, i + 2) == 0x8b && at(c, i + 3) == 0xec)) {
    ++i;
  }
  if (!has(c, i, 4)) return std::nullopt;
  FramePrologue p{static_cast<uint32_t>(i), static_cast<uint32_t>(i + 4), 0};
  i += 4;
  for (;;) {  // push %rax..%rdi but %rsp and %rbp (50-57), push %r8..%r15 (41 50-57)
    if (has(c, i, 1) && (at(c, i) & 0xf8) == 0x50 && at(c, i) != 0x54 && at(c, i) != 0x55) {
      i += 1;
    } else if (has(c, i, 2) && at(c, i) == 0x41 && (at(c, i + 1) & 0xf8) == 0x50) {
      i += 2;
    } else {
      break;
    }
    p.depth += 8;
  }
  if (has(c, i, 4) && at(c, i) == 0x48 && at(c, i + 1) == 0x83 && at(c, i + 2) == 0xec) {  // sub $imm8,%rsp
    if (at(c, i + 3) >= 0x80) return std::nullopt;
    p.depth += at(c, i + 3);
  } else if (has(c, i, 7) && at(c, i) == 0x48 && at(c, i + 1) == 0x81 && at(c, i + 2) == 0xec) {  // sub $imm32
    uint32_t n = 0;
    for (int k = 0; k < 4; ++k) n |= static_cast<uint32_t>(at(c, i + 3 + k)) << (8 * k);
    if (n >= 0x80000000u) return std::nullopt;
    p.depth += n;
  }
  return p;
}

bool follows_call(const CodeWindow& c) {
  auto b = [&](long off) { return has(c, off, 1) ? at(c, off) : 0; };
  if (b(-5) == 0xe8) return true;                                               // call rel32
  if (b(-2) == 0xff && (b(-1) & 0xf8) == 0xd0) return true;                     // call %reg
  if (b(-3) == 0xff && (b(-2) & 0xf8) == 0x50) return true;                     // call disp8(%reg)
  if (b(-6) == 0xff && (b(-5) == 0x15 || (b(-5) & 0xf8) == 0x90)) return true;  // call disp32(%rip|%reg)
  if (b(-3) == 0x41 && b(-2) == 0xff && (b(-1) & 0xf8) == 0xd0) return true;    // call %r8..%r15
  if (b(-4) == 0x41 && b(-3) == 0xff && (b(-2) & 0xf8) == 0x50) return true;    // call disp8(%r8..)
  return false;
}

}  // namespace x86_64
}  // namespace stackshot
