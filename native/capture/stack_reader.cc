#include "capture/stack_reader.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace stackshot {

namespace {
constexpr uint64_t kPage = 4096;
// Remote iovecs cut at page boundaries: the kernel then reports a partial copy up to the first
// unmapped page instead of failing the whole request. 512 KiB needs 129 of them; one call takes
// at most UIO_MAXIOV (1024), so larger copies take several calls.
constexpr size_t kMaxIov = 1024;
constexpr uint64_t kPagePresent = 1ull << 63;
constexpr uint64_t kPageSwapped = 1ull << 62;
}  // namespace

StackReader::StackReader(pid_t pid, bool force_proc_mem, size_t max_bytes, Opening opening)
    : pid_(pid),
      opening_(opening),
      files_(opening == Opening::kHeld ? held_mem_files(pid) : open_mem_files(pid)),
      pages_(max_bytes > 0 ? max_bytes / kPage + 2 : 0),
      vm_readv_works_(!force_proc_mem) {}

void StackReader::rebind() {
  if (opening_ == Opening::kHeld) files_ = held_mem_files(pid_);
}

bool StackReader::read_pagemap(uint64_t first_page, size_t count) {
  if (files_->pagemap == -1 || count > pages_.size()) return false;
  size_t done = 0;
  while (done < count) {
    const off_t at = static_cast<off_t>((first_page + done) * 8);
    ssize_t n = pread(files_->pagemap, pages_.data() + done, (count - done) * 8, at);
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0 || n % 8 != 0) return false;
    done += static_cast<size_t>(n) / 8;
  }
  return true;
}

ssize_t StackReader::read_resident(pid_t task, uint64_t addr, uint8_t* dst, size_t len, std::vector<StackHole>* holes) {
  if (len == 0) return 0;
  const uint64_t first = addr / kPage;
  const size_t count = static_cast<size_t>((addr + len - 1) / kPage - first + 1);
  if (!read_pagemap(first, count)) return read_as(task, addr, dst, len);
  // Runs of pages in memory are copied; pages between them are holes.
  size_t at = 0;
  while (at < len) {
    const size_t page = static_cast<size_t>((addr + at) / kPage - first);
    const bool in_memory = (pages_[page] & (kPagePresent | kPageSwapped)) != 0;
    size_t end = page + 1;
    while (end < count && ((pages_[end] & (kPagePresent | kPageSwapped)) != 0) == in_memory) ++end;
    const size_t run = std::min<uint64_t>(len, (first + end) * kPage - addr) - at;
    if (!in_memory) {
      std::memset(dst + at, 0, run);
      holes->push_back(StackHole{static_cast<uint32_t>(at), static_cast<uint32_t>(run)});
      at += run;
      continue;
    }
    ssize_t n = read_as(task, addr + at, dst + at, run);
    if (n < 0) return at > 0 ? static_cast<ssize_t>(at) : n;
    at += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < run) break;
  }
  return static_cast<ssize_t>(at);
}

ssize_t StackReader::read_as(pid_t task, uint64_t addr, uint8_t* dst, size_t len) {
  if (len == 0) return 0;
  if (vm_readv_works_) {
    ssize_t n = read_vm(task, addr, dst, len);
    if (n != -ENOSYS && n != -EPERM) return n;
    vm_readv_works_ = false;  // filtered or missing: use /proc/<pid>/mem from now on
  }
  return read_mem_file(addr, dst, len);
}

size_t StackReader::read_in_memory(uint64_t addr, uint8_t* dst, size_t len) {
  std::vector<StackHole> holes;
  const ssize_t got = read_resident(pid_, addr, dst, len, &holes);
  size_t usable = got > 0 ? static_cast<size_t>(got) : 0;
  if (!holes.empty()) usable = std::min<size_t>(usable, holes.front().offset);
  return usable;
}

bool StackReader::in_memory(uint64_t addr) {
  return !read_pagemap(addr / kPage, 1) || (pages_[0] & (kPagePresent | kPageSwapped)) != 0;
}

size_t StackReader::read_blocks(const std::vector<uint64_t>& bases, size_t page, uint8_t* dst) {
  // A block not in memory ends the read, as an unreadable one does (see read_resident).
  size_t resident = 0;
  while (resident < bases.size() && in_memory(bases[resident])) ++resident;
  size_t done = 0;
  while (vm_readv_works_ && done < resident) {
    const size_t count = std::min(resident - done, kMaxIov);
    iovec local{dst + done * page, count * page};
    iovec remote[kMaxIov];
    for (size_t i = 0; i < count; ++i) remote[i] = iovec{reinterpret_cast<void*>(bases[done + i]), page};
    ssize_t n;
    do {
      n = process_vm_readv(pid_, &local, 1, remote, count, 0);
    } while (n == -1 && errno == EINTR);
    if (n <= 0) break;
    done += static_cast<size_t>(n) / page;
    if (static_cast<size_t>(n) < count * page) break;  // an unreadable block ends the read
  }
  return done;
}

ssize_t StackReader::read_vm(pid_t task, uint64_t addr, uint8_t* dst, size_t len) {
  size_t done = 0;
  while (done < len) {
    iovec remote[kMaxIov];
    size_t count = 0;
    uint64_t at = addr + done;
    const uint64_t stop = addr + len;
    while (at < stop && count < kMaxIov) {
      uint64_t next = std::min(stop, (at & ~(kPage - 1)) + kPage);
      remote[count++] = iovec{reinterpret_cast<void*>(at), static_cast<size_t>(next - at)};
      at = next;
    }
    const size_t want = static_cast<size_t>(at - (addr + done));
    iovec local{dst + done, want};
    ssize_t n;
    do {
      n = process_vm_readv(task, &local, 1, remote, count, 0);
    } while (n == -1 && errno == EINTR);
    if (n == -1) return done > 0 ? static_cast<ssize_t>(done) : -errno;
    done += static_cast<size_t>(n);
    if (static_cast<size_t>(n) < want) break;  // an unreadable page ends the copy
  }
  return static_cast<ssize_t>(done);
}

ssize_t StackReader::read_mem_file(uint64_t addr, uint8_t* dst, size_t len) {
  if (files_->mem == -1) return -EACCES;
  used_proc_mem_ = true;
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(files_->mem, dst + done, len - done, static_cast<off_t>(addr + done));
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO at the first unmapped page ends the copy
    done += static_cast<size_t>(n);
  }
  return done > 0 ? static_cast<ssize_t>(done) : -EIO;
}

}  // namespace stackshot
