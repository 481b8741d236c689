// /proc/<pid>/mem and /proc/<pid>/pagemap of one process, opened together. Each descriptor stays
// bound to the address space it was opened on: once the process execs or exits, it reads
// nothing, even if the pid is reused.
#pragma once
#include <sys/types.h>

#include <memory>

namespace stackshot {

struct MemFiles {
  int mem = -1;
  int pagemap = -1;
  MemFiles() = default;
  MemFiles(const MemFiles&) = delete;
  MemFiles& operator=(const MemFiles&) = delete;
  ~MemFiles();
};

// A pair of the reader's own.
std::shared_ptr<const MemFiles> open_mem_files(pid_t pid);

// A pair held from one call to the next (opening both costs ~6 µs, a snapshot opened them twice)
// for a few pids at a time, shared by every thread. A held pair whose pagemap no longer reads
// (the address space it names is gone) is opened again: so a held pair follows the pid, where
// open_mem_files' stays with the process.
std::shared_ptr<const MemFiles> held_mem_files(pid_t pid);

}  // namespace stackshot
