// x86-64: user_regs_struct from NT_PRSTATUS; the frame pointer is %rbp.
#include "arch/registers.h"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <cerrno>
#include <cstring>

namespace stackshot {

static_assert(sizeof(user_regs_struct) / sizeof(uint64_t) <= kMaxRawRegisters, "raw too small");

int read_registers(pid_t tid, RegisterSet* out) {
  user_regs_struct regs;
  iovec iov{&regs, sizeof(regs)};
  if (ptrace(PTRACE_GETREGSET, tid, reinterpret_cast<void*>(NT_PRSTATUS), &iov) == -1) return errno;
  // A 32-bit (compat) tracee gets its own, smaller register set: none of these fields were filled.
  if (iov.iov_len != sizeof(regs)) return EINVAL;
  out->pc = regs.rip;
  out->sp = regs.rsp;
  out->fp = regs.rbp;
  out->lr = 0;
  out->raw_count = iov.iov_len / sizeof(uint64_t);
  std::memcpy(out->raw, &regs, out->raw_count * sizeof(uint64_t));
  return 0;
}

const char* arch_name() { return "x64"; }

uint16_t native_elf_machine() { return EM_X86_64; }

}  // namespace stackshot
