#include "unwind/cfi/lazy_section.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace stackshot {

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
  loaded_[chunk] = true;  // once tried, never again: a failed read leaves zeros
  const size_t begin = chunk * kChunk;
  const size_t want = std::min(kChunk, size_ - begin);
  size_t done = 0;
  while (done < want) {
    const ssize_t n = pread(fd_, base_ + begin + done, want - done, static_cast<off_t>(file_offset_ + begin + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // an error, or the file shrank: the rest stays zero
    done += static_cast<size_t>(n);
  }
}

}  // namespace stackshot
