#include "capture/stack_reader.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace stackshot {

namespace {
constexpr uint64_t kPage = 4096;
// Remote iovecs cut at page boundaries: the kernel then reports a partial copy up to the first
// unmapped page instead of failing the whole request. 512 KiB needs 129 of them.
constexpr size_t kMaxIov = 1024;
}  // namespace

StackReader::StackReader(pid_t pid, bool force_proc_mem) : pid_(pid), vm_readv_works_(!force_proc_mem) {
  std::string path = "/proc/" + std::to_string(pid) + "/mem";
  mem_fd_ = open(path.c_str(), O_RDONLY | O_CLOEXEC);
}

StackReader::~StackReader() {
  if (mem_fd_ != -1) close(mem_fd_);
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

ssize_t StackReader::read_vm(pid_t task, uint64_t addr, uint8_t* dst, size_t len) {
  iovec local{dst, len};
  iovec remote[kMaxIov];
  size_t count = 0;
  uint64_t at = addr;
  const uint64_t stop = addr + len;
  while (at < stop && count < kMaxIov) {
    uint64_t next = std::min(stop, (at & ~(kPage - 1)) + kPage);
    remote[count++] = iovec{reinterpret_cast<void*>(at), static_cast<size_t>(next - at)};
    at = next;
  }
  local.iov_len = static_cast<size_t>(at - addr);
  for (;;) {
    ssize_t n = process_vm_readv(task, &local, 1, remote, count, 0);
    if (n == -1 && errno == EINTR) continue;
    return n == -1 ? -errno : n;
  }
}

ssize_t StackReader::read_mem_file(uint64_t addr, uint8_t* dst, size_t len) {
  if (mem_fd_ == -1) return -EACCES;
  used_proc_mem_ = true;
  size_t done = 0;
  while (done < len) {
    ssize_t n = pread(mem_fd_, dst + done, len - done, static_cast<off_t>(addr + done));
    if (n == -1 && errno == EINTR) continue;
    if (n <= 0) break;  // EIO at the first unmapped page ends the copy
    done += static_cast<size_t>(n);
  }
  return done > 0 ? static_cast<ssize_t>(done) : -EIO;
}

}  // namespace stackshot
