// One perf event's mmap ring: the kernel writes records at data_head, we consume up to
// data_tail. A record that wraps around the end of the ring is reassembled in a scratch buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackshot {

class PerfRing {
 public:
  PerfRing() = default;
  ~PerfRing();
  PerfRing(const PerfRing&) = delete;
  PerfRing& operator=(const PerfRing&) = delete;
  PerfRing(PerfRing&& other) noexcept;
  PerfRing& operator=(PerfRing&& other) noexcept;

  // Maps 1 + data_pages pages of fd (data_pages a power of two). Returns 0 or errno.
  int map(int fd, size_t data_pages);
  bool mapped() const { return base_ != nullptr; }

  // The next whole record, contiguous and 8-byte aligned, valid until next() or consume();
  // nullptr when the ring is empty or holds garbage (the ring is then emptied).
  const uint8_t* next(size_t* size);
  // Hands every record returned so far back to the kernel.
  void consume();
  // Records the kernel dropped because the ring was full (PERF_RECORD_LOST totals).
  uint64_t lost() const { return lost_; }

 private:
  void unmap();

  uint8_t* base_ = nullptr;
  size_t map_size_ = 0;
  uint8_t* data_ = nullptr;
  uint64_t data_size_ = 0;
  uint64_t tail_ = 0;  // our read position (consumed up to here once consume() is called)
  uint64_t lost_ = 0;
  std::vector<uint64_t> scratch_;
};

}  // namespace stackshot
