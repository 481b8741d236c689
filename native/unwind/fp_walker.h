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
// Reads target code (after the thread runs again): copies up to n bytes at addr, returns count.
using ReadCode = std::function<size_t(uint64_t addr, uint8_t* out, size_t n)>;

// Frame 0 is regs.pc. If the innermost function has no frame record of its own at that pc
// (prologue, return), its caller comes from the stack pointer or the link register
// (arch/first_frame.h). Then one frame per validated record: each frame pointer must be above
// the previous one, 8-aligned, inside the stack mapping and inside the copy; each return
// address must lie in executable memory.
WalkResult walk_frame_pointers(const UnwindRegs& regs, const StackView& stack, const IsExecutable& is_executable,
                               const ReadCode& read_code, size_t max_frames);

}  // namespace stackshot
