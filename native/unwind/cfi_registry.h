// The CFI tables of the modules stackshot has seen, by id. TypeScript finds a module's
// .eh_frame / .eh_frame_hdr (it already parses the ELF for symbols) and hands them over with
// loadCfi(): as bytes, or as where they are in the module's open file, which is read here
// (.eh_frame only as lookups reach it). It refers to the table by its id afterwards: a second
// snapshot builds nothing.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "unwind/cfi/cfi_table.h"
#include "unwind/cfi/lazy_section.h"

namespace stackshot {

struct CfiBytes {
  std::vector<uint8_t> eh_frame;
  uint64_t eh_frame_vaddr = 0;
  std::vector<uint8_t> eh_frame_hdr;
  uint64_t eh_frame_hdr_vaddr = 0;
  std::vector<uint8_t> debug_frame;
  std::unique_ptr<LazySection> eh_frame_lazy;  // instead of eh_frame: read from the file on demand
};

// Where a section is in a file.
struct FileRange {
  uint64_t offset = 0;
  uint64_t size = 0;
};

// Fills out->eh_frame_hdr from fd now and out->eh_frame_lazy (on a dup of fd) for later; where
// no descriptor is left to dup, reads .eh_frame whole instead. False when the file cannot be
// read as its headers said (it shrank, or fd is not a file).
bool read_cfi_from_file(int fd, const FileRange& eh_frame, const FileRange& eh_frame_hdr, CfiBytes* out);

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
