// Copies a stopped thread's stack out of the target in one system call: process_vm_readv, or
// pread on /proc/<pid>/mem where process_vm_readv is unavailable (seccomp, old kernels).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace stackshot {

class StackReader {
 public:
  // Opens /proc/<pid>/mem up front (before any stop) so the fallback costs no open() in a pause.
  StackReader(pid_t pid, bool force_proc_mem);
  ~StackReader();
  StackReader(const StackReader&) = delete;
  StackReader& operator=(const StackReader&) = delete;

  // Copies up to len bytes from remote address addr into dst. A fault part-way (the end of the
  // mapping) returns the bytes copied before it. Returns bytes copied, or -errno.
  ssize_t read(uint64_t addr, uint8_t* dst, size_t len) { return read_as(pid_, addr, dst, len); }
  // The same through one thread of the process: any thread reaches the process's memory, and
  // a leader that called pthread_exit (a zombie) no longer does.
  ssize_t read_as(pid_t task, uint64_t addr, uint8_t* dst, size_t len);

  bool used_proc_mem() const { return used_proc_mem_; }

 private:
  ssize_t read_vm(pid_t task, uint64_t addr, uint8_t* dst, size_t len);
  ssize_t read_mem_file(uint64_t addr, uint8_t* dst, size_t len);

  pid_t pid_;
  int mem_fd_ = -1;
  bool vm_readv_works_;
  bool used_proc_mem_ = false;
};

}  // namespace stackshot
