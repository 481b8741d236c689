// The stack a signal interrupted, when its handler ran on another one (sigaltstack): the copy
// taken at the stop holds only the handler's stack, so the interrupted frames are read from the
// target after it runs again. That is safe only while the handler has not returned (the
// interrupted frames cannot change before it does): the ucontext is read again after the copy,
// and must still hold the same interrupted sp and pc.
#pragma once
#include <cstdint>
#include <vector>

#include "arch/unwind_ops.h"
#include "unwind/address_space.h"
#include "unwind/target_memory.h"
#include "unwind/stack_view.h"

namespace stackshot {

// Most bytes read of an interrupted stack (the default copy of a thread's stack).
constexpr size_t kInterruptedStackMax = 512 * 1024;

// Reads the stack at `interrupted.sp` (a mapping other than `signal_stack`'s) into `storage`
// and returns it in `out`. `ucontext_sp` is where the signal frame sits in signal_stack (read
// again with `arch`).
// False when the target cannot be read, the sp is in no writable mapping, or the handler
// returned meanwhile (its ucontext changed).
bool read_interrupted_stack(const ArchUnwindOps& arch, const TargetMemory& memory, const AddressSpace& space,
                            uint64_t ucontext_sp, const SignalContext& interrupted, std::vector<uint8_t>* storage,
                            StackView* out);

}  // namespace stackshot
