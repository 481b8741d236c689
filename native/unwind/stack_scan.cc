#include "unwind/stack_scan.h"

#include <cstring>

#include "arch/first_frame.h"

namespace stackshot {

namespace {

constexpr size_t kCallBytes = 6;  // the longest call follows_call knows: ff 15 disp32

// Whether ra follows a call, and for a direct call, where it goes (0: indirect, unknown).
bool after_call(const ReadCode& read_code, uint64_t ra, uint64_t* target) {
  uint8_t bytes[kCallBytes];
  if (ra < kCallBytes || read_code(ra - kCallBytes, bytes, kCallBytes) != kCallBytes) return false;
  if (!x86_64::follows_call(CodeWindow{bytes + kCallBytes, kCallBytes, 0})) return false;
  *target = 0;
  if (bytes[kCallBytes - 5] == 0xe8) {
    int32_t rel;
    std::memcpy(&rel, bytes + kCallBytes - 4, sizeof(rel));
    *target = ra + static_cast<int64_t>(rel);
  }
  return true;
}

// Where a PLT stub at `at` jumps: the value of its GOT slot (`jmp *disp32(%rip)`, with the
// optional endbr64 and bnd prefixes of .plt.sec), or 0 when the code there is no such stub.
uint64_t plt_destination(const ReadCode& read_code, uint64_t at) {
  uint8_t code[11];
  if (read_code(at, code, sizeof(code)) != sizeof(code)) return 0;
  size_t i = 0;
  if (code[0] == 0xf3 && code[1] == 0x0f && code[2] == 0x1e && code[3] == 0xfa) i = 4;  // endbr64
  if (code[i] == 0xf2) ++i;                                                             // bnd
  if (code[i] != 0xff || code[i + 1] != 0x25) return 0;
  int32_t disp;
  std::memcpy(&disp, code + i + 2, sizeof(disp));
  const uint64_t slot = at + i + 6 + static_cast<int64_t>(disp);
  uint64_t dest;
  if (read_code(slot, reinterpret_cast<uint8_t*>(&dest), sizeof(dest)) != sizeof(dest)) return 0;
  return dest;
}

// Whether code starting at `start` can be the function that holds `callee_lookup`: at or before
// it in the same mapping, within a function's size.
bool may_hold(const AddressSpace& space, uint64_t start, uint64_t callee_lookup) {
  const Mapping* m = space.find(start);
  return m != nullptr && m->executable && m == space.find(callee_lookup) && start <= callee_lookup &&
         callee_lookup - start < kMaxFunctionBytes;
}

// A direct call must lead to the function the callee runs: straight there, or through a PLT stub
// whose GOT slot holds it (a call into another module). A stale return address left in the
// frame's uninitialized locals by an earlier call fails this (its call went elsewhere).
bool plausible_target(const AddressSpace& space, const ReadCode& read_code, uint64_t target, uint64_t callee_lookup) {
  if (may_hold(space, target, callee_lookup)) return true;
  const uint64_t dest = plt_destination(read_code, target);
  return dest != 0 && may_hold(space, dest, callee_lookup);
}

}  // namespace

ScanHit scan_for_return_address(const StackView& stack, const AddressSpace& space, const ReadCode& read_code,
                                uint64_t sp, uint64_t callee_lookup) {
  for (uint64_t i = 0; i < kScanWords; ++i) {
    const uint64_t slot = sp + i * 8;
    if (!stack.in_mapping(slot + 7)) return ScanHit{ScanStatus::kNotFound};
    if (!stack.copied(slot, 8)) return ScanHit{ScanStatus::kPastCopy, 0, slot};
    const uint64_t word = stack.word(slot);
    if (!space.is_executable(word) || stack.in_mapping(word)) continue;
    uint64_t target;
    if (!after_call(read_code, word, &target)) continue;
    if (target != 0 && !plausible_target(space, read_code, target, callee_lookup)) continue;
    return ScanHit{ScanStatus::kFound, word, slot};
  }
  return ScanHit{ScanStatus::kNotFound};
}

}  // namespace stackshot
