// The CFI tables of the modules stackshot has seen, by id. TypeScript reads a module's
// .eh_frame / .eh_frame_hdr once (it already parses the ELF for symbols), hands the bytes over
// with loadCfi(), and refers to the table by its id afterwards: a second snapshot builds nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "unwind/cfi/cfi_table.h"

namespace stackshot {

struct CfiBytes {
  std::vector<uint8_t> eh_frame;
  uint64_t eh_frame_vaddr = 0;
  std::vector<uint8_t> eh_frame_hdr;
  uint64_t eh_frame_hdr_vaddr = 0;
  std::vector<uint8_t> debug_frame;
};

class CfiRegistry {
 public:
  static CfiRegistry& instance();

  // Takes the bytes and returns the table's id (> 0, never reused).
  int32_t add(CfiArch arch, CfiBytes bytes);
  // Frees a table (its module left the cache); later lookups of the id find nothing.
  void remove(int32_t id);
  // The table for id, or nullptr. Only while holding lock(): tables fill caches as they are used.
  CfiTable* get(int32_t id);
  std::unique_lock<std::mutex> lock() { return std::unique_lock<std::mutex>(mutex_); }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<CfiTable>> tables_;  // index id - 1; a removed table leaves a null
};

}  // namespace stackshot
