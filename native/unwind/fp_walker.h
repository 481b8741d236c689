// Frame-pointer walking over a copied stack. On both x86-64 and aarch64 a frame record is two
// words at the frame pointer: [fp] = caller's frame pointer, [fp + 8] = return address.
#pragma once
#include <cstddef>
#include <functional>

#include "unwind/stack_view.h"
#include "unwind/walk_result.h"

namespace stackshot {

struct UnwindRegs {
  uint64_t pc;
  uint64_t sp;
  uint64_t fp;
  uint64_t lr;
};

using IsExecutable = std::function<bool(uint64_t)>;

// Frame 0 is regs.pc; then one frame per validated record: each frame pointer must be above the
// previous one, 8-aligned, inside the stack mapping and inside the copy; each return address
// must lie in executable memory.
WalkResult walk_frame_pointers(const UnwindRegs& regs, const StackView& stack,
                               const IsExecutable& is_executable, size_t max_frames);

}  // namespace stackshot
