#include "unwind/cfi/eh_frame_hdr.h"

#include <cstring>

#include "unwind/cfi/dwarf_reader.h"

namespace stackshot {

namespace {

constexpr uint8_t kDatarelSdata4 = dw::kPeDatarel | dw::kPeSdata4;

PointerBases hdr_bases(uint64_t vaddr) {
  PointerBases b;
  b.section_vaddr = vaddr;
  b.data_vaddr = vaddr;  // in .eh_frame_hdr, datarel is relative to the section itself
  b.has_data = true;
  return b;
}

}  // namespace

bool EhFrameHdr::init(const uint8_t* data, size_t size, uint64_t vaddr) {
  *this = EhFrameHdr();
  if (data == nullptr) return false;
  ByteCursor c(data, size);
  const uint8_t version = c.u8();
  const uint8_t ptr_enc = c.u8();
  const uint8_t count_enc = c.u8();
  const uint8_t table_enc = c.u8();
  if (!c.ok() || version != 1) return false;
  const PointerBases bases = hdr_bases(vaddr);
  const EncodedPointer eh_frame = read_encoded_pointer(c, ptr_enc, bases, 8);
  if (eh_frame.status != PointerStatus::kOk) return false;
  const EncodedPointer count = read_encoded_pointer(c, count_enc, bases, 8);
  if (count.status != PointerStatus::kOk) return false;
  // Random access needs a fixed-size, direct table encoding (no indirect, no LEB128).
  if (table_enc == dw::kPeOmit || (table_enc & dw::kPeIndirect) != 0) return false;
  const uint8_t base = table_enc & dw::kPeBaseMask;
  if (base != 0 && base != dw::kPePcrel && base != dw::kPeDatarel) return false;
  const unsigned value_size = encoded_pointer_size(table_enc, 8);
  if (value_size == 0) return false;
  const size_t table = c.pos();
  if (count.value == 0 || count.value > (size - table) / (2 * value_size)) return false;

  data_ = data;
  size_ = size;
  vaddr_ = vaddr;
  eh_frame_vaddr_ = eh_frame.value;
  table_ = table;
  count_ = static_cast<size_t>(count.value);
  table_enc_ = table_enc;
  value_size_ = value_size;
  fast_ = table_enc == kDatarelSdata4;
  return true;
}

// Only for a sorted table: on an unsorted one (hostile), the bucket search and the plain binary
// search give different wrong answers, and a lookup's answer must not change with the number of
// lookups made before it.
template <typename LocAt>
void EhFrameHdr::build_buckets_sorted(LocAt loc_at) {
  for (size_t i = 1; i < count_; i++) {
    if (loc_at(i) < loc_at(i - 1)) return;
  }
  buckets_.build(count_, loc_at);
}

void EhFrameHdr::build_buckets() {
  // The common encoding decoded inline: through location_at, node's index took 1 ms.
  if (fast_) {
    build_buckets_sorted([this](size_t i) { return fast_location_at(i); });
  } else {
    build_buckets_sorted([this](size_t i) { return location_at(i); });
  }
}

uint64_t EhFrameHdr::fast_location_at(size_t index) const {
  int32_t v;
  std::memcpy(&v, data_ + table_ + index * 8, 4);
  return vaddr_ + static_cast<uint64_t>(static_cast<int64_t>(v));
}

uint64_t EhFrameHdr::location_at(size_t index) const {
  if (fast_) return fast_location_at(index);
  ByteCursor c(data_, size_, table_ + index * 2 * value_size_);
  return read_encoded_pointer(c, table_enc_, hdr_bases(vaddr_), 8).value;
}

bool EhFrameHdr::entry(size_t index, uint64_t* initial_loc, uint64_t* fde_vaddr) const {
  if (index >= count_) return false;
  const size_t pos = table_ + index * 2 * value_size_;
  if (fast_) {
    int32_t v[2];
    std::memcpy(v, data_ + pos, 8);
    *initial_loc = vaddr_ + static_cast<uint64_t>(static_cast<int64_t>(v[0]));
    *fde_vaddr = vaddr_ + static_cast<uint64_t>(static_cast<int64_t>(v[1]));
    return true;
  }
  ByteCursor c(data_, size_, pos);
  const PointerBases bases = hdr_bases(vaddr_);
  const EncodedPointer loc = read_encoded_pointer(c, table_enc_, bases, 8);
  const EncodedPointer fde = read_encoded_pointer(c, table_enc_, bases, 8);
  if (loc.status != PointerStatus::kOk || fde.status != PointerStatus::kOk) return false;
  *initial_loc = loc.value;
  *fde_vaddr = fde.value;
  return true;
}

bool EhFrameHdr::find(uint64_t pc, size_t* index, uint64_t* initial_loc, uint64_t* fde_vaddr) {
  if (count_ == 0) return false;
  if (++lookups_ == kLookupsBeforeBuckets) build_buckets();
  // Greatest index whose location is <= pc. The table is sorted by the linker; a hostile,
  // unsorted table only yields a wrong FDE, which the caller's range check rejects.
  size_t lo = 0;
  size_t hi = count_;
  if (buckets_.built() && !buckets_.range(pc, &lo, &hi)) return false;
  size_t n = hi - lo;
  while (n > 1) {
    const size_t half = n / 2;
    if (location_at(lo + half) <= pc) lo += half;
    n -= half;
  }
  if (location_at(lo) > pc) return false;
  *index = lo;
  return entry(lo, initial_loc, fde_vaddr);
}

}  // namespace stackshot
