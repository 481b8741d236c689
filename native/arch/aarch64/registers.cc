// aarch64: user_pt_regs (x0..x30, sp, pc, pstate) from NT_PRSTATUS; the frame pointer is x29
// and the return address of the innermost frame lives in x30 (lr) until the callee saves it.
#include "arch/registers.h"

#include <asm/ptrace.h>
#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

namespace stackshot {

static_assert(sizeof(user_pt_regs) / sizeof(uint64_t) <= kMaxRawRegisters, "raw too small");

namespace {

// The bits pointer authentication uses in code addresses: the kernel's own figure (it depends on
// the address space's size). 0 where the CPU or kernel has none (EINVAL) or the size is not
// the struct's.
uint64_t read_pac_mask(pid_t tid) {
  user_pac_mask mask{};
  iovec iov{&mask, sizeof(mask)};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_ARM_PAC_MASK), &iov) == -1) return 0;
  return iov.iov_len == sizeof(mask) ? mask.insn_mask : 0;
}

}  // namespace

int read_registers(pid_t tid, RegisterSet* out) {
  user_pt_regs regs;
  iovec iov{&regs, sizeof(regs)};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) == -1) return errno;
  // A 32-bit (compat) tracee gets its own, smaller register set: none of these fields were filled.
  if (iov.iov_len != sizeof(regs)) return EINVAL;
  out->pc = regs.pc;
  out->sp = regs.sp;
  out->fp = regs.regs[29];
  out->lr = regs.regs[30];
  out->raw_count = iov.iov_len / sizeof(uint64_t);
  std::memcpy(out->raw, &regs, out->raw_count * sizeof(uint64_t));
  out->pac_mask = read_pac_mask(tid);
  return 0;
}

const char* arch_name() { return "arm64"; }

uint16_t native_elf_machine() { return EM_AARCH64; }

}  // namespace stackshot
