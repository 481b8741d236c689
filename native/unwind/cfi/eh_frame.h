// CIE and FDE records of `.eh_frame` (LSB) and `.debug_frame` (DWARF 2-5). Both are a sequence
// of length-prefixed entries; they differ in how a CIE is marked (id 0 vs all-ones), how an FDE
// names its CIE (relative vs section offset), and how addresses are encoded (DW_EH_PE_* from the
// CIE augmentation vs plain absolute address_size values).
//
// A FrameSection is a view: it neither copies nor owns the bytes (see cfi_table.h for who does).
// Bytes read from the file on demand come with their LazySection, which read_entry() asks for
// each entry before framing it. Offsets are relative to the start of the section; addresses are
// link-time vaddrs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "unwind/cfi/dwarf_reader.h"
#include "unwind/cfi/lazy_section.h"

namespace stackshot {

enum class FrameFormat : uint8_t { kEhFrame, kDebugFrame };

// Why an entry could not be used. Parsers report, they never throw.
enum class CfiError : uint8_t {
  kOk,
  kEnd,        // no entry here: zero terminator or end of the section
  kTruncated,  // a length or field runs past the entry or the section
  kNotCie,     // the FDE's CIE pointer leads to something else
  kNotFde,
  kBadVersion,
  kBadAugmentation,  // an augmentation we cannot skip ("eh", unknown letters)
  kBadEncoding,      // pointer encoding unsupported here (indirect pc_begin, missing base …)
  kBadRange,         // pc_begin + pc_range overflows
};

const char* cfi_error_name(CfiError error);

// The framing of one entry.
struct FrameEntry {
  enum class Kind : uint8_t { kCie, kFde, kTerminator };
  Kind kind = Kind::kTerminator;
  uint64_t offset = 0;      // of the length field
  uint64_t body = 0;        // first byte after the CIE id / CIE pointer
  uint64_t end = 0;         // first byte after the entry (where the next one starts)
  uint64_t cie_offset = 0;  // FDE only: section offset of its CIE, or kNoCie if it points outside
};

constexpr uint64_t kNoCie = ~uint64_t{0};

struct CieInfo {
  uint64_t offset = 0;
  uint64_t code_align = 0;
  int64_t data_align = 0;
  uint64_t ra_register = 0;  // the return-address column
  uint64_t insn_begin = 0;   // initial instructions: [insn_begin, insn_end)
  uint64_t insn_end = 0;
  uint8_t version = 0;
  uint8_t fde_encoding = dw::kPeAbsptr;  // 'R' (.eh_frame) or absptr (.debug_frame)
  uint8_t lsda_encoding = dw::kPeOmit;
  uint8_t address_size = 8;
  uint8_t segment_size = 0;            // .debug_frame v4: bytes of segment selector before pc_begin
  bool has_augmentation_data = false;  // 'z': FDEs carry an augmentation length too
  bool signal_frame = false;           // 'S': the FDE describes a signal trampoline
  bool ra_b_key = false;               // 'B' (aarch64): pointer authentication uses the B key
  bool mte_tagged = false;             // 'G' (aarch64): MTE-tagged stack frames
};

struct FdeInfo {
  uint64_t offset = 0;
  uint64_t cie_offset = 0;
  uint64_t pc_begin = 0;
  uint64_t pc_end = 0;  // pc_begin + pc_range
  uint64_t insn_begin = 0;
  uint64_t insn_end = 0;
};

// Parsed CIEs by offset. A module has a handful that thousands of FDEs name; hostile input can
// have many, so the cache empties itself past kMaxEntries.
class CieCache {
 public:
  static constexpr size_t kMaxEntries = 4096;
  const CieInfo* find(uint64_t offset) const {
    auto it = cies_.find(offset);
    return it == cies_.end() ? nullptr : &it->second;
  }
  void insert(const CieInfo& cie) {
    if (cies_.size() >= kMaxEntries) cies_.clear();
    cies_[cie.offset] = cie;
  }
  size_t size() const { return cies_.size(); }
  void clear() { cies_.clear(); }

 private:
  std::unordered_map<uint64_t, CieInfo> cies_;
};

class FrameSection {
 public:
  FrameSection() = default;
  // `bases` supplies textrel/datarel bases for .eh_frame (section_vaddr is set from `vaddr`).
  // .debug_frame ignores vaddr and bases: its addresses are absolute.
  FrameSection(FrameFormat format, const uint8_t* data, size_t size, uint64_t vaddr,
               const PointerBases& bases = PointerBases(), LazySection* lazy = nullptr);

  FrameFormat format() const { return format_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  uint64_t vaddr() const { return vaddr_; }
  bool empty() const { return size_ == 0; }

  // Frames the entry at `offset`. kEnd at the end of the section; a zero length yields a
  // kTerminator entry 4 bytes long (readers may continue past it, as readelf does). An error
  // means the length itself is unusable, so nothing after this entry can be framed.
  CfiError read_entry(uint64_t offset, FrameEntry* out) const;
  CfiError parse_cie(uint64_t offset, CieInfo* out) const;
  // Parses the FDE at `offset` and its CIE (from `cies`, which it fills on a miss).
  CfiError parse_fde(uint64_t offset, CieCache* cies, FdeInfo* fde, CieInfo* cie) const;
  // Same, for an entry already framed and a CIE already parsed (the scan's fast path).
  CfiError parse_fde_body(const FrameEntry& entry, const CieInfo& cie, FdeInfo* fde) const;
  // Reads an address as the CIE's FDEs encode them (pc_begin, DW_CFA_set_loc).
  EncodedPointer read_address(ByteCursor& cursor, const CieInfo& cie) const;

 private:
  FrameFormat format_ = FrameFormat::kEhFrame;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t vaddr_ = 0;
  PointerBases bases_;
  LazySection* lazy_ = nullptr;  // the owner of data_ when it is read on demand
};

}  // namespace stackshot
