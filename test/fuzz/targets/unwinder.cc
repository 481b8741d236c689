// The stack walker on garbage: a synthetic address space (a module with code and CFI, a JIT
// region without, a stack) whose stack bytes, registers, code and CFI all come from the input,
// walked with every unwinding method the real captures use.
//
// Layout (test/fuzz/make-seeds.js builds seeds against the same constants):
//   module code at kModuleBase + [0, code size), link-time vaddr = address - kModuleBias
//   JIT code at kJitBase + [0, code size) (the same bytes, no CFI)
//   stack copy at kStackBase + [0, stack size); its mapping runs from kStackBase - 4096 to
//   the copy's end + slack * 8
// Input: u8 flags (bit 0: aarch64, bit 1: frame pointers only, bit 2: only pc and sp known, as
//        for a blocked thread: %rbp then comes from a caller's prologue), u8 max frames, u8 pc region
//        (0 module, 1 JIT, else anywhere), u32 pc offset, u16 fp offset (from kStackBase),
//        u32 lr offset (into the module), u16 slack, u32 .eh_frame size, u32 .eh_frame_hdr
//        size, u64 .eh_frame vaddr, u64 .eh_frame_hdr vaddr, u16 code size, then .eh_frame,
//        .eh_frame_hdr, code, and the stack (the rest).
#include <cstring>
#include <vector>

#include "fuzz_input.h"
#include "unwind/unwinder.h"

using namespace stackshot;

namespace {

constexpr uint64_t kModuleBias = 0x555555554000;
constexpr uint64_t kModuleBase = kModuleBias + 0x1000;
constexpr uint64_t kJitBase = 0x7f0000000000;
constexpr uint64_t kStackBase = 0x7ffc00000000;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const size_t max_frames = in.take<uint8_t>();
  const uint8_t pc_region = in.take<uint8_t>();
  const uint32_t pc_offset = in.take<uint32_t>();
  const uint16_t fp_offset = in.take<uint16_t>();
  const uint32_t lr_offset = in.take<uint32_t>();
  const uint16_t slack = in.take<uint16_t>();
  const uint32_t eh_size = in.take<uint32_t>();
  const uint32_t hdr_size = in.take<uint32_t>();
  const uint64_t eh_vaddr = in.take<uint64_t>();
  const uint64_t hdr_vaddr = in.take<uint64_t>();
  const uint16_t code_size = in.take<uint16_t>();
  CfiBytes cfi;
  size_t got = 0;
  const uint8_t* p = in.take_bytes(eh_size, &got);
  cfi.eh_frame.assign(p, p + got);
  cfi.eh_frame_vaddr = eh_vaddr;
  p = in.take_bytes(hdr_size, &got);
  cfi.eh_frame_hdr.assign(p, p + got);
  cfi.eh_frame_hdr_vaddr = hdr_vaddr;
  size_t code_len = 0;
  const uint8_t* code = in.take_bytes(code_size, &code_len);
  size_t stack_len = 0;
  const uint8_t* stack_bytes = in.rest(&stack_len);

  const CfiArch arch = (flags & 1) ? CfiArch::kAarch64 : CfiArch::kX86_64;
  const bool fp_only = (flags & 2) != 0;
  CfiRegistry& registry = CfiRegistry::instance();
  const int32_t cfi_id = fp_only ? 0 : registry.add(arch, std::move(cfi));

  const uint64_t code_end = code_len > 0 ? code_len : 1;  // an empty region still maps a byte
  const uint64_t stack_end = kStackBase + stack_len + uint64_t{slack} * 8;
  AddressSpace space({
      Mapping{kModuleBase, kModuleBase + code_end, kModuleBias, cfi_id, true},
      Mapping{kJitBase, kJitBase + code_end, 0, 0, true},
      Mapping{kStackBase - 4096, stack_end, 0, 0, false},
  });
  const ReadCode read_code = [&](uint64_t addr, uint8_t* out, size_t n) -> size_t {
    for (uint64_t base : {kModuleBase, kJitBase}) {
      if (addr >= base && addr - base < code_len) {
        const size_t off = static_cast<size_t>(addr - base);
        const size_t take = n < code_len - off ? n : code_len - off;
        std::memcpy(out, code + off, take);
        return take;
      }
    }
    return 0;
  };

  UnwindInput input;
  input.arch = arch;
  input.frame_pointers_only = fp_only;
  input.partial_regs = (flags & 4) != 0;
  const uint64_t pc_base = pc_region == 0 ? kModuleBase : pc_region == 1 ? kJitBase : 0;
  input.regs = UnwindRegs{pc_base + pc_offset, kStackBase, kStackBase + fp_offset, kModuleBase + lr_offset};
  input.stack = StackView{kStackBase, stack_bytes, stack_len, kStackBase - 4096, stack_end};

  WalkResult r;
  {
    auto lock = registry.lock();
    r = unwind_thread(input, space, registry, read_code, max_frames);
  }
  FUZZ_CHECK(r.pcs.size() == r.methods.size());
  FUZZ_CHECK(r.pcs.size() <= (max_frames > 0 ? max_frames : 0));
  if (r.end == EndReason::kMaxFrames) FUZZ_CHECK(r.pcs.size() == max_frames);
  for (size_t i = 0; i < r.pcs.size(); i++) {
    FUZZ_CHECK(r.methods[i] <= static_cast<uint8_t>(FrameMethod::kScan));
    // Every caller the walk reports is in executable memory (only the registers' pc may not be),
    // but for a last frame the CFI found in no mapping at all: code that is gone (dlclose), kept
    // as eu-stack and gdb keep it, ending ra-not-executable.
    const bool gone = i + 1 == r.pcs.size() && r.end == EndReason::kRaNotExecutable && space.find(r.pcs[i]) == nullptr;
    if (i > 0 && !gone) FUZZ_CHECK(space.is_executable(r.pcs[i]));
  }
  FUZZ_CHECK(end_reason_name(r.end) != nullptr);
  if (cfi_id != 0) registry.remove(cfi_id);
  return 0;
}
