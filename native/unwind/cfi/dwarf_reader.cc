#include "unwind/cfi/dwarf_reader.h"

namespace stackshot {

unsigned encoded_pointer_size(uint8_t encoding, unsigned address_size) {
  switch (encoding & dw::kPeFormatMask) {
    case dw::kPeAbsptr:
    case dw::kPeSigned: return address_size;
    case dw::kPeUdata2:
    case dw::kPeSdata2: return 2;
    case dw::kPeUdata4:
    case dw::kPeSdata4: return 4;
    case dw::kPeUdata8:
    case dw::kPeSdata8: return 8;
    default: return 0;
  }
}

EncodedPointer read_encoded_pointer(ByteCursor& cursor, uint8_t encoding, const PointerBases& bases,
                                    unsigned address_size) {
  EncodedPointer out;
  if (encoding == dw::kPeOmit) {
    out.status = PointerStatus::kOmitted;
    return out;
  }
  if (address_size != 4 && address_size != 8) {
    out.status = PointerStatus::kUnsupported;
    return out;
  }
  const uint64_t field_vaddr = bases.section_vaddr + cursor.pos();
  const uint8_t base = encoding & dw::kPeBaseMask;

  // DW_EH_PE_aligned: an absolute pointer at the next address_size boundary (by vaddr).
  if (base == dw::kPeAligned) {
    const uint64_t pad = (address_size - (field_vaddr % address_size)) % address_size;
    cursor.skip(pad);
    out.value = cursor.unsigned_of_size(address_size);
    out.status = cursor.ok() ? PointerStatus::kOk : PointerStatus::kTruncated;
    if (out.status == PointerStatus::kOk && (encoding & dw::kPeIndirect)) out.status = PointerStatus::kIndirect;
    return out;
  }

  uint64_t raw = 0;
  switch (encoding & dw::kPeFormatMask) {
    case dw::kPeAbsptr: raw = cursor.unsigned_of_size(address_size); break;
    case dw::kPeSigned:
      raw = address_size == 4 ? static_cast<uint64_t>(static_cast<int64_t>(cursor.s32())) : cursor.u64();
      break;
    case dw::kPeUleb128: raw = cursor.uleb128(); break;
    case dw::kPeUdata2: raw = cursor.u16(); break;
    case dw::kPeUdata4: raw = cursor.u32(); break;
    case dw::kPeUdata8: raw = cursor.u64(); break;
    case dw::kPeSleb128: raw = static_cast<uint64_t>(cursor.sleb128()); break;
    case dw::kPeSdata2: raw = static_cast<uint64_t>(static_cast<int64_t>(cursor.s16())); break;
    case dw::kPeSdata4: raw = static_cast<uint64_t>(static_cast<int64_t>(cursor.s32())); break;
    case dw::kPeSdata8: raw = cursor.u64(); break;
    default: out.status = PointerStatus::kUnsupported; return out;
  }
  if (!cursor.ok()) {
    out.status = PointerStatus::kTruncated;
    return out;
  }

  // Wrapping arithmetic is intended: sdata values are offsets modulo 2^64.
  switch (base) {
    case 0: break;
    case dw::kPePcrel: raw += field_vaddr; break;
    case dw::kPeTextrel:
      if (!bases.has_text) {
        out.status = PointerStatus::kUnsupported;
        return out;
      }
      raw += bases.text_vaddr;
      break;
    case dw::kPeDatarel:
      if (!bases.has_data) {
        out.status = PointerStatus::kUnsupported;
        return out;
      }
      raw += bases.data_vaddr;
      break;
    case dw::kPeFuncrel:
      if (!bases.has_func) {
        out.status = PointerStatus::kUnsupported;
        return out;
      }
      raw += bases.func_vaddr;
      break;
    default: out.status = PointerStatus::kUnsupported; return out;
  }
  if (address_size == 4) raw &= 0xffffffffu;
  out.value = raw;
  out.status = (encoding & dw::kPeIndirect) ? PointerStatus::kIndirect : PointerStatus::kOk;
  return out;
}

}  // namespace stackshot
