// What a walk produces: frame addresses innermost first, how each was found, why it ended.
#pragma once
#include <cstdint>
#include <vector>

namespace stackshot {

// Numbering shared with src/addon.ts (RAW_METHOD).
enum class FrameMethod : uint8_t {
  kRegs = 0,          // frame 0: the pc register
  kFramePointer = 1,  // a frame record at the frame pointer
  kCfi = 2,
  kSignal = 3,
  kLinkRegister = 4,  // aarch64: the caller of a function that has not saved x30 yet
  kStackPointer = 5,  // the caller of a function stopped in its prologue or at its return
  kScan = 6,          // a return address found by scanning the stack (no CFI, no frame record)
};

// Spelled for JavaScript by end_reason_name (unwinder.cc) in this order; src/types.ts lists the
// same names (WALK_END_REASONS), and test/end-reasons.test.ts checks they are equal.
enum class EndReason {
  kEndOfChain,       // frame pointer or return address of 0: where the ABI says a chain ends
  kFpNotIncreasing,  // the next frame is not above this one (a loop, or %rbp used as data)
  kFpMisaligned,
  kFpOutsideStack,   // a frame record at fp would lie outside the thread's stack mapping
  kCfaOutsideStack,  // the CFI's canonical frame address lies outside the thread's stack mapping
  kRaNotExecutable,  // the return address is in no executable mapping
  kMaxFrames,
  kCopyExhausted,               // the chain leads past the bytes copied (raise stackBytes)
  kCfaNotIncreasing,            // a CFI or signal step would move down the stack: the data is not a frame
  kStackUnreadable,             // the chain leads past the bytes copied, to a page that could not be read
  kRegisterUnknown,             // the next step needs a register the capture did not give (partial_regs)
  kInterruptedStackUnreadable,  // past a sigaltstack handler: the interrupted stack could not be read
  kCount,                       // not a reason: how many there are
};

const char* end_reason_name(EndReason reason);

struct WalkResult {
  std::vector<uint64_t> pcs;
  std::vector<uint8_t> methods;
  // The frame pointer each frame ran with: where a runtime's frame (V8) keeps its function.
  std::vector<uint64_t> fps;
  // 1 where the pc is a return address (its call is at pc - 1: naming looks it up there), 0 where
  // it is exact. Decided by the walk alone (unwinder.cc), and only there.
  std::vector<uint8_t> return_addresses;
  EndReason end = EndReason::kEndOfChain;

  void push(uint64_t pc, FrameMethod how, uint64_t fp, bool return_address) {
    pcs.push_back(pc);
    methods.push_back(static_cast<uint8_t>(how));
    fps.push_back(fp);
    return_addresses.push_back(return_address ? 1 : 0);
  }
};

}  // namespace stackshot
