// The innermost frame may not have a frame record of its own yet (stopped in its prologue) or
// any more (at its return): then the frame pointer still belongs to the caller, and a plain
// frame-pointer walk would skip the caller. Each architecture reads the code at the pc to
// decide where the caller's return address is.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>

namespace stackshot {

enum class FirstFrameKind : uint8_t {
  kFrameRecord,   // the function has its frame record: walk from the frame pointer
  kAtSp,          // the return address is at [sp + sp_offset]; fp is still the caller's
  kAtSpIfCall,    // as kAtSp, but only if that word is a return address (follows a call)
  kLinkRegister,  // the return address is still in the link register (aarch64)
};

struct FirstFrameRule {
  FirstFrameKind kind = FirstFrameKind::kFrameRecord;
  uint32_t sp_offset = 0;
};

// Code around the innermost pc: bytes [pc - before, pc + after) at `at_pc - before`.
struct CodeWindow {
  const uint8_t* at_pc;
  size_t before;
  size_t after;
};

// A function's frame-pointer prologue (find_frame_prologue): `push` of the frame pointer at
// push_at, the frame pointer set by frame_set_at, and once the prologue ran, sp is depth below
// it. The caller confirms push_at and frame_set_at against the function's CFI.
struct FramePrologue {
  uint32_t push_at;
  uint32_t frame_set_at;
  uint64_t depth;
};

// How many code bytes the analyses want before and after the pc.
constexpr size_t kCodeBefore = 16;
constexpr size_t kCodeAfter = 32;

// Both architectures are compiled into every build: a capture taken on one machine may be
// unwound on another (offline unwinding, tests on captured aarch64 data).
namespace x86_64 {
FirstFrameRule analyze_first_frame(const CodeWindow& code);
// True if the instruction just before `ra` (code.at_pc == ra) is a call: ra is a return address.
bool follows_call(const CodeWindow& code);
// At a return address in code without CFI (code.at_pc == ra): when the code there only drops
// stack and returns (`ret`, `add $n,%rsp; ret`), the caller's return address is at [sp + n]
// (kAtSp); otherwise kFrameRecord. Python's -X perf trampolines are such code.
FirstFrameRule analyze_return_site(const CodeWindow& code);
// In a function's first bytes (code.at_pc is its start; compilers may run checks before it:
// shrink-wrapping), `push %rbp; mov %rsp,%rbp`, then pushes of registers and `sub $n,%rsp`:
// depth is 8 per push + n.
std::optional<FramePrologue> find_frame_prologue(const CodeWindow& code);
}  // namespace x86_64

namespace aarch64 {
FirstFrameRule analyze_first_frame(const CodeWindow& code);
bool follows_call(const CodeWindow& code);
}  // namespace aarch64

}  // namespace stackshot
