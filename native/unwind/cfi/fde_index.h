// A sorted (pc range → FDE offset) index built by scanning every entry of `.eh_frame` or
// `.debug_frame`: the fallback when there is no usable `.eh_frame_hdr`, and the only way to
// search `.debug_frame`, which has no header. Memory: 24 bytes per FDE, at most one entry per
// 8 bytes of section, so hostile input cannot make it grow beyond that.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "unwind/cfi/eh_frame.h"
#include "unwind/cfi/pc_buckets.h"

namespace stackshot {

struct FdeIndexEntry {
  uint64_t pc_begin;
  uint64_t pc_end;
  uint64_t fde_offset;
};

class FdeIndex {
 public:
  // Scans the whole section. Entries that do not parse are counted and left out, as are FDEs
  // covering no bytes (what linkers leave of discarded functions).
  void build(const FrameSection& section, CieCache* cies);

  // The FDE whose range contains pc, or nullptr.
  const FdeIndexEntry* find(uint64_t pc) const;

  bool built() const { return built_; }
  size_t size() const { return entries_.size(); }
  size_t bad_entries() const { return bad_; }
  const std::vector<FdeIndexEntry>& entries() const { return entries_; }

 private:
  std::vector<FdeIndexEntry> entries_;
  PcBuckets buckets_;
  size_t bad_ = 0;
  bool built_ = false;
};

}  // namespace stackshot
