// Bounds-checked reading of DWARF data: a cursor over a byte span, LEB128, and DW_EH_PE_*
// encoded pointers. CFI comes from files we did not write (and a fuzzer), so no read may leave
// the span: a read past the end puts the cursor in a failed state and returns 0, and every
// later read fails too. A parser can therefore read a whole record and check ok() once.
// Little-endian only (both supported architectures are).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "unwind/cfi/dwarf_constants.h"

namespace stackshot {

class ByteCursor {
 public:
  ByteCursor() = default;
  ByteCursor(const uint8_t* data, size_t size, size_t pos = 0)
      : data_(data), size_(size), pos_(pos <= size ? pos : size), ok_(pos <= size) {}

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }
  bool ok() const { return ok_; }
  bool at_end() const { return pos_ >= size_; }
  void fail() {
    ok_ = false;
    pos_ = size_;
  }

  bool seek(uint64_t pos) {
    if (!ok_ || pos > size_) {
      fail();
      return false;
    }
    pos_ = static_cast<size_t>(pos);
    return true;
  }
  bool skip(uint64_t n) {
    if (!ok_ || n > remaining()) {
      fail();
      return false;
    }
    pos_ += static_cast<size_t>(n);
    return true;
  }

  uint8_t u8() { return read_le<uint8_t>(); }
  uint16_t u16() { return read_le<uint16_t>(); }
  uint32_t u32() { return read_le<uint32_t>(); }
  uint64_t u64() { return read_le<uint64_t>(); }
  int16_t s16() { return static_cast<int16_t>(u16()); }
  int32_t s32() { return static_cast<int32_t>(u32()); }
  int64_t s64() { return static_cast<int64_t>(u64()); }
  // An unsigned value of 1, 2, 4 or 8 bytes (DWARF address_size); other sizes fail.
  uint64_t unsigned_of_size(unsigned size) {
    switch (size) {
      case 1: return u8();
      case 2: return u16();
      case 4: return u32();
      case 8: return u64();
      default: fail(); return 0;
    }
  }

  // LEB128. Bits beyond 64 are dropped (as binutils does); more than 10 bytes is malformed.
  uint64_t uleb128() {
    uint64_t value = 0;
    for (unsigned shift = 0; shift < 70; shift += 7) {
      const uint8_t byte = u8();
      if (!ok_) return 0;
      if (shift < 64) value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail();
    return 0;
  }
  int64_t sleb128() {
    uint64_t value = 0;
    unsigned shift = 0;
    for (; shift < 70; shift += 7) {
      const uint8_t byte = u8();
      if (!ok_) return 0;
      if (shift < 64) value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        shift += 7;
        if (shift < 64 && (byte & 0x40) != 0) value |= ~uint64_t{0} << shift;  // sign-extend
        return static_cast<int64_t>(value);
      }
    }
    fail();
    return 0;
  }

  // A NUL-terminated string inside the span; returns its start and moves past the NUL.
  const char* cstring(size_t* length) {
    if (!ok_ || remaining() == 0) {
      fail();
      return nullptr;
    }
    const void* nul = std::memchr(data_ + pos_, 0, remaining());
    if (nul == nullptr) {
      fail();
      return nullptr;
    }
    const char* s = reinterpret_cast<const char*>(data_ + pos_);
    *length = static_cast<size_t>(static_cast<const uint8_t*>(nul) - (data_ + pos_));
    pos_ += *length + 1;
    return s;
  }

 private:
  template <typename T>
  T read_le() {
    if (!ok_ || remaining() < sizeof(T)) {
      fail();
      return 0;
    }
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;
  bool ok_ = false;
};

// What DW_EH_PE_* bases resolve against. `section_vaddr` is the link-time address of byte 0 of
// the span being read (pcrel); the others are optional because few producers use them.
struct PointerBases {
  uint64_t section_vaddr = 0;
  uint64_t text_vaddr = 0;  // DW_EH_PE_textrel
  uint64_t data_vaddr = 0;  // DW_EH_PE_datarel (.eh_frame_hdr: its own address; .eh_frame: GOT)
  uint64_t func_vaddr = 0;  // DW_EH_PE_funcrel (the FDE's pc_begin)
  bool has_text = false;
  bool has_data = false;
  bool has_func = false;
};

enum class PointerStatus : uint8_t {
  kOk,
  kOmitted,      // DW_EH_PE_omit: no value present
  kIndirect,     // value is the address of the pointer (we never read target memory)
  kUnsupported,  // unknown format/base, or a base we were not given
  kTruncated,    // the span ended inside the value
};

struct EncodedPointer {
  PointerStatus status = PointerStatus::kTruncated;
  uint64_t value = 0;
};

// Reads one DW_EH_PE_* encoded value at the cursor and applies its base. address_size (4 or 8)
// gives the size of DW_EH_PE_absptr. For an indirect encoding the cursor still moves past the
// value (so a caller may skip e.g. a personality pointer) but the status says kIndirect.
EncodedPointer read_encoded_pointer(ByteCursor& cursor, uint8_t encoding, const PointerBases& bases,
                                    unsigned address_size);

// Size in bytes of a value of this encoding's format, or 0 if it is variable (LEB128) or invalid.
unsigned encoded_pointer_size(uint8_t encoding, unsigned address_size);

}  // namespace stackshot
