// The user registers a perf sample carries (PERF_SAMPLE_REGS_USER), mapped to the kernel's
// NT_PRSTATUS layout that a ptrace capture fills, so the unwinder and capture files see one shape.
// One mapping per architecture, beside this header (x86_64/, aarch64/).
#pragma once
#include <cstddef>
#include <cstdint>

#include "arch/registers.h"

namespace stackshot {

// The attr.sample_regs_user mask: every general register the kernel lets us ask for.
uint64_t perf_user_regs_mask();

// values: the sample's registers in ascending bit order of the mask (count = its popcount).
// Returns false when they cannot stand for the thread's registers.
bool registers_from_perf(const uint64_t* values, size_t count, RegisterSet* out);

}  // namespace stackshot
