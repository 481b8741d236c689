// Copies a stopped thread's stack out of the target in one system call: process_vm_readv, or
// pread on /proc/<pid>/mem where process_vm_readv is unavailable (seccomp, old kernels).
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "capture/mem_files.h"
#include "unwind/stack_view.h"

namespace stackshot {

class StackReader {
 public:
  // kUpFront: /proc/<pid>/mem and pagemap are opened now, before any stop, so no read costs an
  // open() in a pause; they read the process they were opened on or nothing (mem_files.h).
  // kHeld: the same, but the pair held for the pid from one reader to the next, which follows
  // the pid (a capture, a walk: they read by pid through process_vm_readv anyway).
  enum class Opening { kUpFront, kHeld };
  // max_bytes: the longest copy read_resident() will be asked for.
  StackReader(pid_t pid, bool force_proc_mem, size_t max_bytes = 0, Opening opening = Opening::kUpFront);
  StackReader(const StackReader&) = delete;
  StackReader& operator=(const StackReader&) = delete;

  // Copies up to len bytes from remote address addr into dst. A fault part-way (the end of the
  // mapping) returns the bytes copied before it. Returns bytes copied, or -errno.
  ssize_t read(uint64_t addr, uint8_t* dst, size_t len) { return read_as(pid_, addr, dst, len); }
  // The same through one thread of the process: any thread reaches the process's memory, and
  // a leader that called pthread_exit (a zombie) no longer does.
  ssize_t read_as(pid_t task, uint64_t addr, uint8_t* dst, size_t len);

  // Copies the pages of [addr, addr + len) that are in memory (present or swapped, as
  // /proc/<pid>/pagemap says) and zero-fills the others, listing them in *holes. Reading a page
  // that is not in memory would make the kernel fault it in for us: populate stack the target
  // never touched, or -- in a userfaultfd range -- wait for the target's fault handler, for
  // ever if that handler is stopped too. Without pagemap, copies everything. Returns the bytes
  // copied (holes included; a page that cannot be read ends the copy), or -errno.
  ssize_t read_resident(pid_t task, uint64_t addr, uint8_t* dst, size_t len, std::vector<StackHole>* holes);
  // read_resident's bytes before its first hole: the target's memory from addr on, as far as it
  // is in memory and readable (what is read after the threads run again: code, stacks, heap).
  size_t read_in_memory(uint64_t addr, uint8_t* dst, size_t len);

  // Reads the `page`-byte blocks at each of bases into dst, one after another, in as few system
  // calls as it takes (one per 1024). Returns how many blocks were read whole, in order: a read
  // ends at the first block that cannot be, or that is not in memory (pagemap, as read_resident
  // reads; a block is one page or less), through process_vm_readv only (0 where it is refused).
  size_t read_blocks(const std::vector<uint64_t>& bases, size_t page, uint8_t* dst);

  bool used_proc_mem() const { return used_proc_mem_; }
  pid_t pid() const { return pid_; }
  // A kHeld reader's files again, for the pid's current address space: after an execve, the
  // pair it holds reads nothing, and reads would go on without pagemap's residency check.
  void rebind();

 private:
  // Whether the page holding addr is in memory (true where pagemap cannot say).
  bool in_memory(uint64_t addr);
  // pagemap entries of [first_page, first_page + count) into pages_. False if unreadable.
  bool read_pagemap(uint64_t first_page, size_t count);
  ssize_t read_vm(pid_t task, uint64_t addr, uint8_t* dst, size_t len);
  ssize_t read_mem_file(uint64_t addr, uint8_t* dst, size_t len);

  pid_t pid_;
  Opening opening_;
  std::shared_ptr<const MemFiles> files_;
  std::vector<uint64_t> pages_;  // sized before the first stop: no allocation inside a pause
  bool vm_readv_works_;
  bool used_proc_mem_ = false;
};

}  // namespace stackshot
