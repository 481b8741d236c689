#pragma once
#include <cstdint>
#include <vector>

#include "unwind/stack_view.h"
#include "unwind/target_memory.h"

namespace stackshot {

// Deep stacks: extends `stack` (a copy ending before its mapping does) with the next bytes of
// the mapping, read from the target after it ran again, into `storage`. Valid only if the
// thread has not returned below the copy's end meanwhile: the last kOverlap copied bytes are read
// again with the extension and must be unchanged. False when nothing more can be had.
bool extend_stack(const TargetMemory& memory, StackView* stack, std::vector<uint8_t>* storage);

}  // namespace stackshot
