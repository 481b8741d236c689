#include "capture/perf/ring.h"

#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace stackshot {

PerfRing::~PerfRing() { unmap(); }

PerfRing::PerfRing(PerfRing&& other) noexcept { *this = std::move(other); }

PerfRing& PerfRing::operator=(PerfRing&& other) noexcept {
  if (this == &other) return *this;
  unmap();
  base_ = std::exchange(other.base_, nullptr);
  map_size_ = std::exchange(other.map_size_, 0);
  data_ = std::exchange(other.data_, nullptr);
  data_size_ = std::exchange(other.data_size_, 0);
  tail_ = other.tail_;
  lost_ = other.lost_;
  scratch_ = std::move(other.scratch_);
  return *this;
}

void PerfRing::unmap() {
  if (base_ != nullptr) munmap(base_, map_size_);
  base_ = nullptr;
}

int PerfRing::map(int fd, size_t data_pages) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t size = (1 + data_pages) * page;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return errno;
  unmap();
  base_ = static_cast<uint8_t*>(p);
  map_size_ = size;
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(base_);
  data_ = base_ + (meta->data_offset != 0 ? meta->data_offset : page);
  data_size_ = meta->data_size != 0 ? meta->data_size : data_pages * page;
  tail_ = __atomic_load_n(&meta->data_tail, __ATOMIC_RELAXED);
  return 0;
}

const uint8_t* PerfRing::next(size_t* size) {
  if (base_ == nullptr) return nullptr;
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(base_);
  for (;;) {
    const uint64_t head = __atomic_load_n(&meta->data_head, __ATOMIC_ACQUIRE);
    if (head - tail_ < sizeof(perf_event_header)) return nullptr;
    const uint64_t at = tail_ % data_size_;
    perf_event_header h;
    if (at + sizeof(h) <= data_size_) {
      std::memcpy(&h, data_ + at, sizeof(h));
    } else {
      const size_t first = data_size_ - at;
      std::memcpy(&h, data_ + at, first);
      std::memcpy(reinterpret_cast<uint8_t*>(&h) + first, data_, sizeof(h) - first);
    }
    // A record is a multiple of 8 bytes and fits in what the kernel published.
    if (h.size < sizeof(h) || h.size % 8 != 0 || h.size > head - tail_) {
      tail_ = head;
      consume();
      return nullptr;
    }
    const uint8_t* record;
    if (at + h.size <= data_size_) {
      record = data_ + at;
    } else {
      scratch_.resize(h.size / 8);
      auto* dst = reinterpret_cast<uint8_t*>(scratch_.data());
      const size_t first = data_size_ - at;
      std::memcpy(dst, data_ + at, first);
      std::memcpy(dst + first, data_, h.size - first);
      record = dst;
    }
    tail_ += h.size;
    if (h.type == PERF_RECORD_LOST && h.size >= sizeof(h) + 16) {
      uint64_t lost;
      std::memcpy(&lost, record + sizeof(h) + 8, 8);
      lost_ += lost;
      continue;
    }
    *size = h.size;
    return record;
  }
}

void PerfRing::consume() {
  if (base_ == nullptr) return;
  auto* meta = reinterpret_cast<perf_event_mmap_page*>(base_);
  __atomic_store_n(&meta->data_tail, tail_, __ATOMIC_RELEASE);
}

}  // namespace stackshot
