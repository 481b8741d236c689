// Registers of a stopped thread, read with PTRACE_GETREGSET(NT_PRSTATUS). Each architecture
// fills the same RegisterSet; the unwinder only ever sees pc/sp/fp/lr.
#pragma once
#include <sys/types.h>
#include <cstddef>
#include <cstdint>

namespace stackshot {

// Enough for x86-64's user_regs_struct (27 words) and aarch64's user_pt_regs (34 words).
constexpr size_t kMaxRawRegisters = 40;

struct RegisterSet {
  uint64_t pc = 0;
  uint64_t sp = 0;
  uint64_t fp = 0;        // %rbp / x29
  uint64_t lr = 0;        // x30 on aarch64; 0 on x86-64, where the return address is on the stack
  uint64_t pac_mask = 0;  // aarch64: NT_ARM_PAC_MASK's insn_mask (0: no pointer authentication, or unknown)
  uint64_t raw[kMaxRawRegisters] = {};
  size_t raw_count = 0;  // words of the kernel's register layout kept in raw (for offline unwinding)
};

// Reads the general registers of a ptrace-stopped thread. Returns 0 or an errno value.
int read_registers(pid_t tid, RegisterSet* out);

// Name of the architecture this addon was built for, as Node spells it ('x64', 'arm64').
const char* arch_name();

// The ELF machine (e_machine) of 64-bit programs this addon can capture: EM_X86_64, EM_AARCH64.
uint16_t native_elf_machine();

}  // namespace stackshot
