// Target code read in whole 4 KiB chunks, each read once per unwind call. The unwinder reads
// code at the innermost pc and at return sites of frames without CFI (JIT code): a node stack
// has dozens of such frames, across threads, in a few pages, and every read is a syscall.
// Kept for one unwind call only: JIT code may be rewritten once the threads run again.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <utility>
#include <vector>

#include "unwind/unwinder.h"

namespace stackshot {

class CodePages {
 public:
  explicit CodePages(ReadCode raw) : raw_(std::move(raw)) {}

  static constexpr uint64_t kChunk = 4096;  // a page on x86-64; within one on 16/64 KiB pages
  // A table this size holds every code page of a large process's stacks many times over.
  static constexpr size_t kMaxChunks = 1024;

  // A chunk read elsewhere (several in one vectored read): served as if read here.
  void add(uint64_t base, const uint8_t* bytes) {
    if (chunks_.size() >= kMaxChunks) return;
    chunks_.emplace(base, std::vector<uint8_t>(bytes, bytes + kChunk));
  }

  // Same contract as ReadCode: copies up to n bytes at addr, returns how many (0 if unreadable).
  size_t read(uint64_t addr, uint8_t* out, size_t n) {
    size_t done = 0;
    while (done < n) {
      const uint64_t at = addr + done;
      const std::vector<uint8_t>& chunk = chunk_at(at & ~(kChunk - 1));
      const size_t off = static_cast<size_t>(at & (kChunk - 1));
      if (off >= chunk.size()) break;  // unreadable (or the end of what could be read)
      const size_t take = std::min(n - done, chunk.size() - off);
      std::memcpy(out + done, chunk.data() + off, take);
      done += take;
    }
    return done;
  }

 private:
  const std::vector<uint8_t>& chunk_at(uint64_t base) {
    auto it = chunks_.find(base);
    if (it != chunks_.end()) return it->second;
    std::vector<uint8_t> bytes(kChunk);
    bytes.resize(raw_(base, bytes.data(), kChunk));
    if (chunks_.size() >= kMaxChunks) chunks_.clear();
    return chunks_.emplace(base, std::move(bytes)).first->second;
  }

  ReadCode raw_;
  std::unordered_map<uint64_t, std::vector<uint8_t>> chunks_;
};

}  // namespace stackshot
