// Stack scanning, the last resort for a frame with neither CFI nor a frame record (code built
// with -fno-asynchronous-unwind-tables -fomit-frame-pointer, or stripped of .eh_frame): the
// caller's return address is somewhere above sp. Breakpad's scan, validated: a word qualifies
// only if it points into executable code outside the stack, right after a call instruction,
// and, for a direct call, one whose target plausibly is the function the callee runs.
// x86-64 only: there the return address's slot + 8 is the caller's sp, exact enough for the
// caller's CFI; aarch64 saves x30 anywhere in its frame, which leaves the caller's sp unknown.
#pragma once
#include <cstdint>

#include "unwind/address_space.h"
#include "unwind/stack_view.h"
#include "unwind/unwinder.h"

namespace stackshot {

// How many words above sp are searched: enough for a frame with a few hundred bytes of locals,
// few enough that stale words far up the stack are not reached.
constexpr uint64_t kScanWords = 256;

// Largest distance from a direct call's target to the callee's pc: a function's size.
constexpr uint64_t kMaxFunctionBytes = 1 << 20;

enum class ScanStatus : uint8_t {
  kFound,
  kNotFound,  // no word in the window qualifies
  kPastCopy,  // the window runs past the bytes copied, with no word qualifying before
};

struct ScanHit {
  ScanStatus status;
  uint64_t ra = 0;    // the return address found
  uint64_t slot = 0;  // where on the stack it was (the caller's sp is slot + 8), or the first word not copied
};

// Searches [sp, sp + kScanWords * 8) for the return address of the function that holds
// `callee_lookup` (the callee frame's lookup address: its pc, or pc - 1 for a return address).
ScanHit scan_for_return_address(const StackView& stack, const AddressSpace& space, const ReadCode& read_code,
                                uint64_t sp, uint64_t callee_lookup);

}  // namespace stackshot
