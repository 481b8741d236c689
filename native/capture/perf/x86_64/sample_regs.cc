// x86-64: perf's register numbering (asm/perf_regs.h) to user_regs_struct. DS, ES, FS and GS are
// refused in a 64-bit sample (the kernel returns EINVAL for them), so they stay 0 here.
#include "capture/perf/sample_regs.h"

#include <asm/perf_regs.h>
#include <sys/user.h>

#include <cstddef>
#include <cstring>

namespace stackshot {

namespace {

constexpr uint64_t kUnsupported =
    (1ULL << PERF_REG_X86_DS) | (1ULL << PERF_REG_X86_ES) | (1ULL << PERF_REG_X86_FS) | (1ULL << PERF_REG_X86_GS);
constexpr uint64_t kMask = ((1ULL << PERF_REG_X86_64_MAX) - 1) & ~kUnsupported;

// Offset (in words) in user_regs_struct of each perf register number.
constexpr size_t word(size_t byte_offset) { return byte_offset / sizeof(uint64_t); }
constexpr size_t kSlot[PERF_REG_X86_64_MAX] = {
    word(offsetof(user_regs_struct, rax)), word(offsetof(user_regs_struct, rbx)),
    word(offsetof(user_regs_struct, rcx)), word(offsetof(user_regs_struct, rdx)),
    word(offsetof(user_regs_struct, rsi)), word(offsetof(user_regs_struct, rdi)),
    word(offsetof(user_regs_struct, rbp)), word(offsetof(user_regs_struct, rsp)),
    word(offsetof(user_regs_struct, rip)), word(offsetof(user_regs_struct, eflags)),
    word(offsetof(user_regs_struct, cs)),  word(offsetof(user_regs_struct, ss)),
    word(offsetof(user_regs_struct, ds)),  word(offsetof(user_regs_struct, es)),
    word(offsetof(user_regs_struct, fs)),  word(offsetof(user_regs_struct, gs)),
    word(offsetof(user_regs_struct, r8)),  word(offsetof(user_regs_struct, r9)),
    word(offsetof(user_regs_struct, r10)), word(offsetof(user_regs_struct, r11)),
    word(offsetof(user_regs_struct, r12)), word(offsetof(user_regs_struct, r13)),
    word(offsetof(user_regs_struct, r14)), word(offsetof(user_regs_struct, r15)),
};

}  // namespace

uint64_t perf_user_regs_mask() { return kMask; }

bool registers_from_perf(const uint64_t* values, size_t count, RegisterSet* out) {
  uint64_t words[sizeof(user_regs_struct) / sizeof(uint64_t)] = {};
  size_t next = 0;
  for (size_t reg = 0; reg < PERF_REG_X86_64_MAX; ++reg) {
    if ((kMask & (1ULL << reg)) == 0) continue;
    if (next >= count) return false;
    words[kSlot[reg]] = values[next++];
  }
  if (next != count) return false;
  // orig_rax is not sampled: -1 says "not in a syscall" to anything that reads the layout.
  words[word(offsetof(user_regs_struct, orig_rax))] = ~0ULL;
  user_regs_struct regs;
  std::memcpy(&regs, words, sizeof(regs));
  out->pc = regs.rip;
  out->sp = regs.rsp;
  out->fp = regs.rbp;
  out->lr = 0;
  out->raw_count = sizeof(regs) / sizeof(uint64_t);
  std::memcpy(out->raw, words, sizeof(words));
  return true;
}

}  // namespace stackshot
