#include "unwind/cfi/fde_index.h"

#include <algorithm>

namespace stackshot {

namespace {

// Overlapping FDEs only occur in broken or hostile files; look back this far at most.
constexpr size_t kMaxOverlapProbe = 8;

}  // namespace

void FdeIndex::build(const FrameSection& section, CieCache* cies) {
  entries_.clear();
  bad_ = 0;
  built_ = true;
  uint64_t offset = 0;
  FrameEntry entry;
  // Every entry is at least 4 bytes long, so the walk ends within size/4 steps.
  for (;;) {
    const CfiError err = section.read_entry(offset, &entry);
    if (err == CfiError::kEnd) break;
    if (err != CfiError::kOk) {
      // The length is unreliable: nothing after it can be framed.
      bad_++;
      break;
    }
    offset = entry.end;
    if (entry.kind != FrameEntry::Kind::kFde) continue;
    const CieInfo* cached = cies->find(entry.cie_offset);
    CieInfo cie;
    if (cached != nullptr) {
      cie = *cached;
    } else if (section.parse_cie(entry.cie_offset, &cie) == CfiError::kOk) {
      cies->insert(cie);
    } else {
      bad_++;
      continue;
    }
    FdeInfo fde;
    if (section.parse_fde_body(entry, cie, &fde) != CfiError::kOk) {
      bad_++;
      continue;
    }
    if (fde.pc_end <= fde.pc_begin) continue;
    entries_.push_back(FdeIndexEntry{fde.pc_begin, fde.pc_end, fde.offset});
  }
  std::sort(entries_.begin(), entries_.end(), [](const FdeIndexEntry& a, const FdeIndexEntry& b) {
    return a.pc_begin != b.pc_begin ? a.pc_begin < b.pc_begin : a.fde_offset < b.fde_offset;
  });
  entries_.shrink_to_fit();
  buckets_.build(entries_.size(), [this](size_t i) { return entries_[i].pc_begin; });
}

const FdeIndexEntry* FdeIndex::find(uint64_t pc) const {
  size_t lo = 0;
  size_t hi = entries_.size();
  if (buckets_.built() && !buckets_.range(pc, &lo, &hi)) return nullptr;
  const auto first = entries_.begin() + static_cast<std::ptrdiff_t>(lo);
  auto it = std::upper_bound(first, entries_.begin() + static_cast<std::ptrdiff_t>(hi), pc,
                             [](uint64_t value, const FdeIndexEntry& e) { return value < e.pc_begin; });
  // Overlap probing may look before the bucket's range.
  for (size_t probe = 0; probe < kMaxOverlapProbe && it != entries_.begin(); probe++) {
    --it;
    if (pc < it->pc_end) return &*it;
  }
  return nullptr;
}

}  // namespace stackshot
