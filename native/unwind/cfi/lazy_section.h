// A section's bytes read from its file only as the parser reaches them. node's .eh_frame is
// 2.7 MB, and a snapshot looks up a few dozen of its FDEs: reading it whole cost a cold CLI
// more than the lookups. The bytes sit in reserved address space (untouched pages cost
// nothing) and are filled a 16 KiB chunk at a time by ensure(), which the section's readers
// call before they frame an entry (FrameSection::read_entry): everything a parser reads lies
// inside an entry it framed first.
//
// The file is the target's and may change or shrink under us: what could not be read stays
// zero, which the parsers reject like any other bad bytes. Not thread-safe, as CfiTable is not.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace stackshot {

// Reads up to n bytes at offset of fd, retrying short reads and EINTR; stops at the file's end or
// an error. Returns how many bytes it read.
size_t read_file_at(int fd, uint64_t offset, uint8_t* out, size_t n);

class LazySection {
 public:
  static constexpr size_t kChunk = 16 * 1024;
  static constexpr size_t kMaxSize = size_t{1} << 30;  // larger sections are not taken

  // Takes ownership of `fd` (a descriptor of its own: it is closed with the section). Null, with
  // fd closed, when the size is 0 or over kMaxSize, or no address space could be reserved.
  static std::unique_ptr<LazySection> create(int fd, uint64_t file_offset, size_t size);
  ~LazySection();
  LazySection(const LazySection&) = delete;
  LazySection& operator=(const LazySection&) = delete;

  const uint8_t* data() const { return base_; }
  size_t size() const { return size_; }
  // Reads whatever of [offset, offset + length) (clamped to the section) was not read yet.
  void ensure(uint64_t offset, uint64_t length);

 private:
  LazySection(int fd, uint64_t file_offset, uint8_t* base, size_t size);
  void load(size_t chunk);

  int fd_;
  uint64_t file_offset_;
  uint8_t* base_;
  size_t size_;
  std::vector<bool> loaded_;
};

}  // namespace stackshot
