#include "unwind/cfi/eh_frame.h"

namespace stackshot {

const char* cfi_error_name(CfiError error) {
  switch (error) {
    case CfiError::kOk: return "ok";
    case CfiError::kEnd: return "end";
    case CfiError::kTruncated: return "truncated";
    case CfiError::kNotCie: return "not-cie";
    case CfiError::kNotFde: return "not-fde";
    case CfiError::kBadVersion: return "bad-version";
    case CfiError::kBadAugmentation: return "bad-augmentation";
    case CfiError::kBadEncoding: return "bad-encoding";
    case CfiError::kBadRange: return "bad-range";
  }
  return "unknown";
}

FrameSection::FrameSection(FrameFormat format, const uint8_t* data, size_t size, uint64_t vaddr,
                           const PointerBases& bases, LazySection* lazy)
    : format_(format), data_(data), size_(data != nullptr ? size : 0), vaddr_(vaddr), bases_(bases), lazy_(lazy) {
  bases_.section_vaddr = vaddr;
}

CfiError FrameSection::read_entry(uint64_t offset, FrameEntry* out) const {
  if (offset >= size_) return CfiError::kEnd;
  if (lazy_ != nullptr) lazy_->ensure(offset, 16);  // the length (4 or 12 bytes) and the id
  ByteCursor c(data_, size_, offset);
  uint64_t length = c.u32();
  bool dwarf64 = false;
  if (!c.ok()) return CfiError::kTruncated;
  if (length == 0) {
    out->kind = FrameEntry::Kind::kTerminator;
    out->offset = offset;
    out->body = out->end = c.pos();
    out->cie_offset = 0;
    return CfiError::kOk;
  }
  if (length == 0xffffffffu) {
    length = c.u64();
    dwarf64 = true;
    if (!c.ok()) return CfiError::kTruncated;
  }
  if (length > c.remaining()) return CfiError::kTruncated;
  const uint64_t end = c.pos() + length;
  if (lazy_ != nullptr) lazy_->ensure(offset, end - offset);
  // The id is 4 bytes in .eh_frame even in the 64-bit format; .debug_frame follows the format.
  const bool wide_id = dwarf64 && format_ == FrameFormat::kDebugFrame;
  const uint64_t id_pos = c.pos();
  if (length < (wide_id ? 8u : 4u)) return CfiError::kTruncated;
  const uint64_t id = wide_id ? c.u64() : c.u32();

  out->offset = offset;
  out->body = c.pos();
  out->end = end;
  out->cie_offset = 0;
  if (format_ == FrameFormat::kEhFrame) {
    if (id == 0) {
      out->kind = FrameEntry::Kind::kCie;
    } else {
      // The CIE pointer counts back from its own position. A bad one spoils this FDE only:
      // the length is still good for finding the next entry.
      out->kind = FrameEntry::Kind::kFde;
      out->cie_offset = id <= id_pos ? id_pos - id : kNoCie;
    }
  } else {
    const uint64_t cie_id = wide_id ? ~uint64_t{0} : 0xffffffffu;
    if (id == cie_id) {
      out->kind = FrameEntry::Kind::kCie;
    } else {
      out->kind = FrameEntry::Kind::kFde;
      out->cie_offset = id < size_ ? id : kNoCie;
    }
  }
  return CfiError::kOk;
}

CfiError FrameSection::parse_cie(uint64_t offset, CieInfo* out) const {
  FrameEntry entry;
  CfiError err = read_entry(offset, &entry);
  if (err == CfiError::kEnd) return CfiError::kNotCie;
  if (err != CfiError::kOk) return err;
  if (entry.kind != FrameEntry::Kind::kCie) return CfiError::kNotCie;

  // Reads stop at the entry's end, not the section's.
  ByteCursor c(data_, entry.end, entry.body);
  CieInfo cie;
  cie.offset = offset;
  cie.version = c.u8();
  if (!c.ok()) return CfiError::kTruncated;
  const bool eh = format_ == FrameFormat::kEhFrame;
  if (eh ? (cie.version != 1 && cie.version != 3) : (cie.version != 1 && cie.version != 3 && cie.version != 4)) {
    return CfiError::kBadVersion;
  }
  size_t aug_len = 0;
  const char* aug = c.cstring(&aug_len);
  if (!c.ok()) return CfiError::kTruncated;
  // Anything but "" or a 'z' augmentation has data we cannot size ("eh" is pre-GCC-3).
  if (aug_len > 0 && aug[0] != 'z') return CfiError::kBadAugmentation;

  cie.address_size = 8;
  if (cie.version == 4) {
    cie.address_size = c.u8();
    cie.segment_size = c.u8();
    if (!c.ok()) return CfiError::kTruncated;
    if (cie.address_size != 4 && cie.address_size != 8) return CfiError::kBadEncoding;
  }
  cie.code_align = c.uleb128();
  cie.data_align = c.sleb128();
  cie.ra_register = cie.version == 1 ? c.u8() : c.uleb128();
  if (!c.ok()) return CfiError::kTruncated;
  cie.fde_encoding = dw::kPeAbsptr;

  if (aug_len > 0) {
    cie.has_augmentation_data = true;
    const uint64_t data_len = c.uleb128();
    if (!c.ok() || data_len > c.remaining()) return CfiError::kTruncated;
    const uint64_t data_end = c.pos() + data_len;
    ByteCursor a(data_, data_end, c.pos());
    for (size_t i = 1; i < aug_len; i++) {
      switch (aug[i]) {
        case 'L': cie.lsda_encoding = a.u8(); break;
        case 'R': cie.fde_encoding = a.u8(); break;
        case 'P': {
          // Only skipped (the personality routine does not matter for unwinding), but its size
          // must be known to find what follows.
          const uint8_t enc = a.u8();
          const uint8_t fmt = enc & dw::kPeFormatMask;
          if (!a.ok()) return CfiError::kTruncated;
          if (enc != dw::kPeOmit && encoded_pointer_size(enc, cie.address_size) == 0 && fmt != dw::kPeUleb128 &&
              fmt != dw::kPeSleb128) {
            return CfiError::kBadEncoding;
          }
          if (read_encoded_pointer(a, enc, bases_, cie.address_size).status == PointerStatus::kTruncated) {
            return CfiError::kTruncated;
          }
          break;
        }
        case 'S': cie.signal_frame = true; break;
        case 'B': cie.ra_b_key = true; break;
        case 'G': cie.mte_tagged = true; break;
        default: return CfiError::kBadAugmentation;
      }
      if (!a.ok()) return CfiError::kTruncated;
    }
    c.seek(data_end);
  }
  if (!c.ok()) return CfiError::kTruncated;
  // The FDE pointer encoding must be one we can decode (never indirect for pc_begin).
  if (cie.fde_encoding != dw::kPeAbsptr) {
    const uint8_t fmt = cie.fde_encoding & dw::kPeFormatMask;
    if (cie.fde_encoding == dw::kPeOmit || (cie.fde_encoding & dw::kPeIndirect) ||
        (encoded_pointer_size(cie.fde_encoding, cie.address_size) == 0 && fmt != dw::kPeUleb128 &&
         fmt != dw::kPeSleb128)) {
      return CfiError::kBadEncoding;
    }
  }
  cie.insn_begin = c.pos();
  cie.insn_end = entry.end;
  *out = cie;
  return CfiError::kOk;
}

EncodedPointer FrameSection::read_address(ByteCursor& c, const CieInfo& cie) const {
  if (format_ == FrameFormat::kDebugFrame && !cie.has_augmentation_data) {
    EncodedPointer p;
    p.value = c.unsigned_of_size(cie.address_size);
    p.status = c.ok() ? PointerStatus::kOk : PointerStatus::kTruncated;
    return p;
  }
  return read_encoded_pointer(c, cie.fde_encoding, bases_, cie.address_size);
}

CfiError FrameSection::parse_fde_body(const FrameEntry& entry, const CieInfo& cie, FdeInfo* fde) const {
  if (entry.kind != FrameEntry::Kind::kFde) return CfiError::kNotFde;
  ByteCursor c(data_, entry.end, entry.body);
  if (format_ == FrameFormat::kDebugFrame) c.skip(cie.segment_size);  // DWARF 4 segment selector
  const EncodedPointer begin = read_address(c, cie);
  if (begin.status == PointerStatus::kTruncated) return CfiError::kTruncated;
  if (begin.status != PointerStatus::kOk) return CfiError::kBadEncoding;
  // The range is a length: same format, no base.
  EncodedPointer range;
  if (format_ == FrameFormat::kDebugFrame && !cie.has_augmentation_data) {
    range.value = c.unsigned_of_size(cie.address_size);
    range.status = c.ok() ? PointerStatus::kOk : PointerStatus::kTruncated;
  } else {
    range = read_encoded_pointer(c, cie.fde_encoding & dw::kPeFormatMask, bases_, cie.address_size);
  }
  if (range.status == PointerStatus::kTruncated) return CfiError::kTruncated;
  if (range.status != PointerStatus::kOk) return CfiError::kBadEncoding;
  const uint64_t pc_begin = begin.value;
  const uint64_t pc_range = range.value;
  if (cie.has_augmentation_data) {
    const uint64_t len = c.uleb128();
    c.skip(len);
    if (!c.ok()) return CfiError::kTruncated;
  }
  const uint64_t max = cie.address_size == 4 ? 0xffffffffu : ~uint64_t{0};
  if (pc_range > max - pc_begin) return CfiError::kBadRange;
  fde->offset = entry.offset;
  fde->cie_offset = entry.cie_offset;
  fde->pc_begin = pc_begin;
  fde->pc_end = pc_begin + pc_range;
  fde->insn_begin = c.pos();
  fde->insn_end = entry.end;
  return CfiError::kOk;
}

CfiError FrameSection::parse_fde(uint64_t offset, CieCache* cies, FdeInfo* fde, CieInfo* cie) const {
  FrameEntry entry;
  CfiError err = read_entry(offset, &entry);
  if (err == CfiError::kEnd) return CfiError::kNotFde;
  if (err != CfiError::kOk) return err;
  if (entry.kind != FrameEntry::Kind::kFde) return CfiError::kNotFde;
  const CieInfo* cached = cies != nullptr ? cies->find(entry.cie_offset) : nullptr;
  if (cached != nullptr) {
    *cie = *cached;
  } else {
    err = parse_cie(entry.cie_offset, cie);
    if (err != CfiError::kOk) return err == CfiError::kNotFde ? CfiError::kNotCie : err;
    if (cies != nullptr) cies->insert(*cie);
  }
  return parse_fde_body(entry, *cie, fde);
}

}  // namespace stackshot
