// DWARF call-frame programs on their own: a CIE's initial instructions and an FDE's
// instructions taken straight from the input (no framing to get past), run to the end, to a
// given pc, and compiled to rows, for both architectures.
//
// Input: u8 flags (bit 0: aarch64, bit 1: signal frame 'S', bit 2: .eh_frame format),
//        u8 FDE pointer encoding (DW_CFA_set_loc operands), u8 code alignment, i8 data
//        alignment, u8 return-address column, u16 CIE program size, u32 pc_begin,
//        u16 pc_range, u16 stop offset, then the CIE program and the FDE program (the rest).
#include <vector>

#include "fuzz_input.h"
#include "unwind/cfi/cfi_table.h"

using namespace stackshot;

namespace {

class CheckedSink : public RowSink {
 public:
  CheckedSink(uint64_t begin, uint64_t end) : last_(begin), end_(end) {}
  bool row(uint64_t pc, const CfaRow&) override {
    FUZZ_CHECK(pc >= last_);
    FUZZ_CHECK(pc < end_ || (rows_ == 0 && pc == last_));
    last_ = pc;
    return ++rows_ < 100000;
  }

 private:
  uint64_t last_;
  uint64_t end_;
  size_t rows_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const uint8_t encoding = in.take<uint8_t>();
  const uint8_t code_align = in.take<uint8_t>();
  const int8_t data_align = in.take<int8_t>();
  const uint8_t ra_register = in.take<uint8_t>();
  const uint16_t cie_size = in.take<uint16_t>();
  const uint32_t pc_begin = in.take<uint32_t>();
  const uint16_t pc_range = in.take<uint16_t>();
  const uint16_t stop = in.take<uint16_t>();
  size_t cie_got = 0, fde_got = 0;
  in.take_bytes(cie_size, &cie_got);
  const size_t header = size - in.left() - cie_got;
  in.rest(&fde_got);

  const CfiArch arch = (flags & 1) ? CfiArch::kAarch64 : CfiArch::kX86_64;
  const FrameFormat format = (flags & 4) ? FrameFormat::kEhFrame : FrameFormat::kDebugFrame;
  // The whole input is the section: the programs are ranges of it, as in a real one.
  const FrameSection section(format, data, size, 0x1000);
  CieInfo cie;
  cie.code_align = code_align;
  cie.data_align = data_align;
  cie.ra_register = ra_register;
  cie.insn_begin = header;
  cie.insn_end = header + cie_got;
  cie.version = 1;
  cie.fde_encoding = format == FrameFormat::kEhFrame ? encoding : dw::kPeAbsptr;
  cie.signal_frame = (flags & 2) != 0;
  FdeInfo fde;
  fde.pc_begin = pc_begin;
  fde.pc_end = uint64_t{pc_begin} + pc_range;
  fde.insn_begin = cie.insn_end;
  fde.insn_end = size;

  CheckedSink sink(fde.pc_begin, fde.pc_end);
  uint64_t error_pc = 0;
  const CfaStatus status = run_cfa_program(section, cie, fde, arch, fde.pc_end, &sink, &error_pc);
  if (status != CfaStatus::kOk) FUZZ_CHECK(error_pc >= fde.pc_begin);
  FUZZ_CHECK(cfa_status_name(status) != nullptr);

  CfaRow row;
  if (cfa_row_at(section, cie, fde, arch, fde.pc_begin + stop % (pc_range + 1), &row) == CfaStatus::kOk) {
    compact_rule(row, arch, cie.signal_frame);
  }

  std::vector<CfiRow> rows;
  compile_fde_rows(section, cie, fde, arch, &rows);
  for (size_t i = 1; i < rows.size(); i++) {
    FUZZ_CHECK(rows[i - 1].pc < rows[i].pc);
    FUZZ_CHECK(rows[i - 1].rule != rows[i].rule);
  }
  return 0;
}
