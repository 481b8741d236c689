// .eh_frame, .eh_frame_hdr and .debug_frame as one module's CFI: the sections are split out of
// the input, every entry is framed and parsed the way the scans do, and the table answers
// lookups at the starts, middles and ends of the FDEs found (so the programs run too).
//
// Input: u8 flags (bit 0: aarch64, bit 1: text base, bit 2: GOT base), u32 hdr size,
//        u32 debug_frame size, u64 .eh_frame vaddr, u64 .eh_frame_hdr vaddr, then the
//        .eh_frame_hdr bytes, the .debug_frame bytes, and .eh_frame (the rest).
#include <vector>

#include "fuzz_input.h"
#include "unwind/cfi/cfi_table.h"

using namespace stackshot;

namespace {

// FDE ranges found by walking the section entry by entry (bounded: hostile input can hold
// one 8-byte entry per 8 bytes).
std::vector<FdeInfo> walk(const FrameSection& section) {
  std::vector<FdeInfo> fdes;
  CieCache cies;
  uint64_t offset = 0;
  for (int n = 0; n < 4096; n++) {
    FrameEntry entry;
    if (section.read_entry(offset, &entry) != CfiError::kOk) break;
    FUZZ_CHECK(entry.end > offset && entry.end <= section.size());
    if (entry.kind == FrameEntry::Kind::kCie) {
      CieInfo cie;
      if (section.parse_cie(offset, &cie) == CfiError::kOk) {
        FUZZ_CHECK(cie.insn_begin <= cie.insn_end && cie.insn_end <= section.size());
      }
    } else if (entry.kind == FrameEntry::Kind::kFde) {
      FdeInfo fde;
      CieInfo cie;
      if (section.parse_fde(offset, &cies, &fde, &cie) == CfiError::kOk) {
        FUZZ_CHECK(fde.insn_begin <= fde.insn_end && fde.insn_end <= section.size());
        FUZZ_CHECK(fde.pc_begin <= fde.pc_end);
        if (fdes.size() < 64) fdes.push_back(fde);
      }
    }
    offset = entry.end;
  }
  return fdes;
}

void look_up(CfiTable& table, uint64_t pc) {
  const CfiLookup hit = table.lookup(pc);
  if (hit.status == CfiLookupStatus::kFound) {
    FUZZ_CHECK(hit.row_begin <= pc && pc < hit.row_end);
    FUZZ_CHECK(hit.fde_begin <= hit.row_begin && hit.row_end <= hit.fde_end);
  }
  // A second lookup is answered from the caches and must agree.
  const CfiLookup again = table.lookup(pc);
  FUZZ_CHECK(again.status == hit.status);
  if (hit.status == CfiLookupStatus::kFound) FUZZ_CHECK(again.rule == hit.rule);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  const uint32_t hdr_size = in.take<uint32_t>();
  const uint32_t debug_size = in.take<uint32_t>();
  const uint64_t eh_vaddr = in.take<uint64_t>();
  const uint64_t hdr_vaddr = in.take<uint64_t>();
  CfiSections sections;
  sections.eh_frame_hdr.data = in.take_bytes(hdr_size, &sections.eh_frame_hdr.size);
  sections.eh_frame_hdr.vaddr = hdr_vaddr;
  sections.debug_frame.data = in.take_bytes(debug_size, &sections.debug_frame.size);
  sections.eh_frame.data = in.rest(&sections.eh_frame.size);
  sections.eh_frame.vaddr = eh_vaddr;
  sections.has_text_vaddr = (flags & 2) != 0;
  sections.text_vaddr = eh_vaddr & ~uint64_t{0xfff};
  sections.has_got_vaddr = (flags & 4) != 0;
  sections.got_vaddr = hdr_vaddr & ~uint64_t{0xfff};
  const CfiArch arch = (flags & 1) ? CfiArch::kAarch64 : CfiArch::kX86_64;

  PointerBases bases;
  bases.has_text = sections.has_text_vaddr;
  bases.text_vaddr = sections.text_vaddr;
  bases.has_data = sections.has_got_vaddr;
  bases.data_vaddr = sections.got_vaddr;
  std::vector<FdeInfo> fdes =
      walk(FrameSection(FrameFormat::kEhFrame, sections.eh_frame.data, sections.eh_frame.size, eh_vaddr, bases));
  for (const FdeInfo& f :
       walk(FrameSection(FrameFormat::kDebugFrame, sections.debug_frame.data, sections.debug_frame.size, 0))) {
    fdes.push_back(f);
  }

  CfiTable table(arch, sections);
  for (const FdeInfo& f : fdes) {
    look_up(table, f.pc_begin);
    look_up(table, f.pc_begin + (f.pc_end - f.pc_begin) / 2);
    if (f.pc_end > f.pc_begin) look_up(table, f.pc_end - 1);
    look_up(table, f.pc_end);
  }
  look_up(table, eh_vaddr);
  look_up(table, 0);
  look_up(table, ~uint64_t{0});
  const CfiTableStats stats = table.stats();
  FUZZ_CHECK(stats.cached_rows <= CfiTable::kMaxCachedRows + 2 * stats.cached_fdes + 1);
  return 0;
}
