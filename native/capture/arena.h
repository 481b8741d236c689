// Memory for copied stacks, allocated and touched BEFORE any thread is stopped: a first-touch
// page fault costs ~2 µs, which would otherwise be paid inside the target's pause. Arenas are
// pooled across snapshots, so a warm snapshot allocates nothing.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace stackshot {

class Arena {
 public:
  // Makes room for `bytes` more beyond what is used, faulting every page in now.
  void reserve_more(size_t bytes);
  // Takes `bytes` (reserved earlier) and returns the offset of the block.
  size_t take(size_t bytes);
  // Returns unused bytes of the last take() (a copy is usually shorter than its cap).
  void give_back(size_t bytes) { used_ -= bytes; }
  uint8_t* at(size_t offset) { return data_.data() + offset; }
  const uint8_t* at(size_t offset) const { return data_.data() + offset; }
  size_t capacity() const { return data_.size(); }
  void reset() { used_ = 0; }

 private:
  std::vector<uint8_t> data_;
  size_t used_ = 0;
};

// A pooled arena, returned to the pool when it goes out of scope.
class ArenaLease {
 public:
  ArenaLease();
  ~ArenaLease();
  ArenaLease(const ArenaLease&) = delete;
  ArenaLease& operator=(const ArenaLease&) = delete;
  Arena& operator*() { return *arena_; }
  Arena* operator->() { return arena_.get(); }

 private:
  std::unique_ptr<Arena> arena_;
};

}  // namespace stackshot
