// aarch64: perf's register numbering (x0..x30, sp, pc) is user_pt_regs' order; pstate is not
// sampled and stays 0.
#include "capture/perf/sample_regs.h"

#include <asm/perf_regs.h>
#include <asm/ptrace.h>

#include <cstring>

namespace stackshot {

namespace {
constexpr uint64_t kMask = (1ULL << (PERF_REG_ARM64_PC + 1)) - 1;  // x0..x30, sp, pc
}  // namespace

uint64_t perf_user_regs_mask() { return kMask; }

bool registers_from_perf(const uint64_t* values, size_t count, RegisterSet* out) {
  if (count != PERF_REG_ARM64_PC + 1) return false;
  user_pt_regs regs{};
  for (size_t i = 0; i < 31; ++i) regs.regs[i] = values[i];
  regs.sp = values[PERF_REG_ARM64_SP];
  regs.pc = values[PERF_REG_ARM64_PC];
  out->pc = regs.pc;
  out->sp = regs.sp;
  out->fp = regs.regs[29];
  out->lr = regs.regs[30];
  out->raw_count = sizeof(regs) / sizeof(uint64_t);
  std::memcpy(out->raw, &regs, sizeof(regs));
  return true;
}

}  // namespace stackshot
