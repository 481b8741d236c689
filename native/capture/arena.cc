#include "capture/arena.h"

#include <cstring>
#include <mutex>

namespace stackshot {

namespace {
// Arenas larger than this are not kept for reuse, so one huge capture does not pin memory.
constexpr size_t kMaxPooledBytes = 64u << 20;
constexpr size_t kMaxPooledArenas = 4;

std::mutex pool_mutex;
std::vector<std::unique_ptr<Arena>>& pool() {
  static auto* arenas = new std::vector<std::unique_ptr<Arena>>();
  return *arenas;
}
}  // namespace

void Arena::reserve_more(size_t bytes) {
  const size_t need = used_ + bytes;
  if (need <= data_.size()) return;
  // resize() value-initialises the new bytes: writing them is what faults the pages in.
  data_.resize(need);
}

size_t Arena::take(size_t bytes) {
  reserve_more(bytes);
  size_t offset = used_;
  used_ += bytes;
  return offset;
}

ArenaLease::ArenaLease() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!pool().empty()) {
    arena_ = std::move(pool().back());
    pool().pop_back();
  } else {
    arena_ = std::make_unique<Arena>();
  }
  arena_->reset();
}

ArenaLease::~ArenaLease() {
  if (arena_->capacity() > kMaxPooledBytes) return;
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool().size() < kMaxPooledArenas) pool().push_back(std::move(arena_));
}

}  // namespace stackshot
