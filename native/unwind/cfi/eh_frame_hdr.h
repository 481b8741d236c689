// `.eh_frame_hdr`: the linker's sorted table of (initial location, FDE address), so that finding
// the FDE for a pc is a binary search instead of a scan of `.eh_frame`. Layout (LSB):
//   u8 version (1), u8 eh_frame_ptr_enc, u8 fde_count_enc, u8 table_enc,
//   eh_frame_ptr, fde_count, then fde_count pairs encoded with table_enc
// (almost always DW_EH_PE_datarel|sdata4, relative to the start of .eh_frame_hdr).
#pragma once
#include <cstddef>
#include <cstdint>

#include "unwind/cfi/pc_buckets.h"

namespace stackshot {

class EhFrameHdr {
 public:
  // Validates the header against the section bytes. Returns false (and stays unusable) for an
  // unknown version, a table encoding that is not fixed-size, or a table that does not fit.
  bool init(const uint8_t* data, size_t size, uint64_t vaddr);

  bool usable() const { return count_ > 0; }
  size_t fde_count() const { return count_; }
  uint64_t eh_frame_vaddr() const { return eh_frame_vaddr_; }

  // The table entry with the greatest initial location <= pc. The FDE there may still end
  // before pc (a gap between functions): the caller checks its range. A binary search at first;
  // after kLookupsBeforeBuckets lookups, through a bucket index built then (a sorted table's:
  // both give the same answer there).
  bool find(uint64_t pc, size_t* index, uint64_t* initial_loc, uint64_t* fde_vaddr);
  bool entry(size_t index, uint64_t* initial_loc, uint64_t* fde_vaddr) const;

 private:
  // The bucket index costs a pass over the table (node's: 76k FDEs, 0.5 ms); a cold snapshot
  // looks up a few dozen pcs of a module, for ~150 ns each without it. A process that takes
  // snapshots over and over has it from its third or so.
  static constexpr uint32_t kLookupsBeforeBuckets = 256;

  void build_buckets();
  template <typename LocAt>
  void build_buckets_sorted(LocAt loc_at);
  uint64_t location_at(size_t index) const;
  // location_at for datarel|sdata4 (fast_): 4-byte values, 8-byte entries.
  inline uint64_t fast_location_at(size_t index) const;

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  uint64_t vaddr_ = 0;
  uint64_t eh_frame_vaddr_ = 0;
  size_t table_ = 0;  // offset of the first pair
  size_t count_ = 0;
  uint8_t table_enc_ = 0;
  unsigned value_size_ = 0;  // bytes per encoded value (an entry is two)
  bool fast_ = false;        // datarel|sdata4: decode without the generic path
  PcBuckets buckets_;
  uint32_t lookups_ = 0;
};

}  // namespace stackshot
