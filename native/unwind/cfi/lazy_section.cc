#include "unwind/cfi/lazy_section.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace stackshot {

size_t read_file_at(int fd, uint64_t offset, uint8_t* out, size_t n) {
  size_t done = 0;
  while (done < n) {
    const ssize_t got = pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    done += static_cast<size_t>(got);
  }
  return done;
}

std::unique_ptr<LazySection> LazySection::create(int fd, uint64_t file_offset, size_t size) {
  if (size == 0 || size > kMaxSize) {
    close(fd);
    return nullptr;
  }
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    close(fd);
    return nullptr;
  }
  return std::unique_ptr<LazySection>(new LazySection(fd, file_offset, static_cast<uint8_t*>(base), size));
}

LazySection::LazySection(int fd, uint64_t file_offset, uint8_t* base, size_t size)
    : fd_(fd), file_offset_(file_offset), base_(base), size_(size), loaded_((size + kChunk - 1) / kChunk, false) {}

LazySection::~LazySection() {
  munmap(base_, size_);
  close(fd_);
}

void LazySection::ensure(uint64_t offset, uint64_t length) {
  if (offset >= size_ || length == 0) return;
  const uint64_t end = std::min<uint64_t>(size_, offset + std::min<uint64_t>(length, size_));
  for (size_t c = offset / kChunk; c * kChunk < end; ++c) {
    if (!loaded_[c]) load(c);
  }
}

void LazySection::load(size_t chunk) {
  loaded_[chunk] = true;  // once tried, never again: what a failed read left out stays zero
  const size_t begin = chunk * kChunk;
  read_file_at(fd_, file_offset_ + begin, base_ + begin, std::min(kChunk, size_ - begin));
}

}  // namespace stackshot
