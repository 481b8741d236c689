// A first-level index over a sorted array of FDE start addresses: the address space they span
// is cut into equal power-of-two buckets, each remembering the first entry at or after its
// start. A lookup reads one bucket and searches the handful of entries it leaves, instead of
// ~17 dependent, unpredictable binary-search steps over a large table (≈150 ns on this VM for
// node's 76k FDEs, mostly branch mispredictions and TLB misses).
//
// About one bucket per entry (4 bytes each). Built in one pass; if the input is not sorted
// (hostile files) the answers are wrong but indexes stay in bounds, and callers check the
// FDE's range anyway.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackshot {

class PcBuckets {
 public:
  static constexpr size_t kMaxBuckets = size_t{1} << 22;

  // loc_at(i) returns the start address of entry i, for i < count.
  template <typename LocAt>
  void build(size_t count, LocAt loc_at) {
    first_.clear();
    count_ = count;
    if (count == 0 || count > UINT32_MAX) return;
    base_ = loc_at(0);
    const uint64_t last = loc_at(count - 1);
    const uint64_t span = last > base_ ? last - base_ : 0;
    const uint64_t want = count < kMaxBuckets ? count : kMaxBuckets;
    shift_ = 0;
    while (shift_ < 63 && (span >> shift_) >= want) shift_++;
    const size_t buckets = static_cast<size_t>(span >> shift_) + 1;
    first_.resize(buckets + 1);
    size_t i = 0;
    for (size_t b = 0; b < buckets; b++) {
      const uint64_t start = base_ + (static_cast<uint64_t>(b) << shift_);
      while (i < count && loc_at(i) < start) i++;
      first_[b] = static_cast<uint32_t>(i);
    }
    first_[buckets] = static_cast<uint32_t>(count);
  }

  bool built() const { return !first_.empty(); }

  // Narrows the search for the greatest entry whose start is <= pc to [*lo, *hi). False when pc
  // is below every entry.
  bool range(uint64_t pc, size_t* lo, size_t* hi) const {
    if (pc < base_) return false;
    const size_t buckets = first_.size() - 1;
    uint64_t b = (pc - base_) >> shift_;
    if (b >= buckets) {
      // Past the last entry's bucket: only the last entries can match.
      *lo = count_ - 1;
      *hi = count_;
      return true;
    }
    const size_t first = first_[b];
    *lo = first > 0 ? first - 1 : 0;
    *hi = first_[b + 1];
    if (*hi <= *lo) *hi = *lo + 1;
    return true;
  }

 private:
  std::vector<uint32_t> first_;
  uint64_t base_ = 0;
  unsigned shift_ = 0;
  size_t count_ = 0;
};

}  // namespace stackshot
