// The hybrid unwinder: walks a copied stack frame by frame, with the CFI rule of the module
// that holds the pc where it has one (.eh_frame: complete through code built without frame
// pointers, such as glibc), and the frame-pointer rule where it has not (JIT code, modules
// without unwind tables). Runs on copies, after the thread was resumed: it costs the target
// nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>

#include "unwind/address_space.h"
#include "unwind/cfi/unwind_rule.h"
#include "unwind/cfi_registry.h"
#include "unwind/target_memory.h"
#include "unwind/stack_view.h"
#include "unwind/walk_result.h"

namespace stackshot {

struct UnwindRegs {
  uint64_t pc;
  uint64_t sp;
  uint64_t fp;
  uint64_t lr;  // aarch64 x30; 0 on x86-64
};

// Reads target code: copies up to n bytes at addr, returns the count (0 when unavailable).
using ReadCode = std::function<size_t(uint64_t addr, uint8_t* out, size_t n)>;

struct UnwindInput {
  CfiArch arch;
  UnwindRegs regs;
  StackView stack;
  // Walk as a frame-pointer profiler would (`unwind: 'fp'`): no return-site analysis of caller
  // frames (the caller passes mappings without CFI too).
  bool frame_pointers_only = false;
  // Reads the live target's memory after the stop (none offline): the stack a signal handler
  // on sigaltstack interrupted, and a deep stack's part beyond the copy.
  TargetMemory read_stack;
  // Only pc and sp are known (a stop-free capture of a blocked thread): a step that needs fp or
  // lr before a frame restored it from the stack ends the walk with kRegisterUnknown.
  bool partial_regs = false;
  // Search the stack for a return address where a frame has neither CFI nor a frame record
  // (stack_scan.h); off: such a frame ends the walk.
  bool stack_scan = true;
  // aarch64: the pointer-authentication bits of a code address, as the kernel reports them
  // (NT_ARM_PAC_MASK); 0 when unknown (a fixed 48-bit address space is assumed).
  uint64_t pac_mask = 0;
};

// Walks one thread. The caller holds CfiRegistry::lock() for the duration.
WalkResult unwind_thread(const UnwindInput& input, const AddressSpace& space, CfiRegistry& cfi,
                         const ReadCode& read_code, size_t max_frames);

}  // namespace stackshot
