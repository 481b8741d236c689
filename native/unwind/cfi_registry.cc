#include "unwind/cfi_registry.h"

#include <fcntl.h>

namespace stackshot {

namespace {

bool pread_all(int fd, const FileRange& range, std::vector<uint8_t>* out) {
  if (range.size > LazySection::kMaxSize) return false;
  out->resize(range.size);
  return read_file_at(fd, range.offset, out->data(), out->size()) == range.size;
}

}  // namespace

bool read_cfi_from_file(int fd, const FileRange& eh_frame, const FileRange& eh_frame_hdr, CfiBytes* out) {
  if (eh_frame_hdr.size != 0 && !pread_all(fd, eh_frame_hdr, &out->eh_frame_hdr)) return false;
  if (eh_frame.size == 0) return true;
  const int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (own >= 0) {
    out->eh_frame_lazy = LazySection::create(own, eh_frame.offset, eh_frame.size);
    if (out->eh_frame_lazy) return true;
  }
  return pread_all(fd, eh_frame, &out->eh_frame);
}

CfiRegistry& CfiRegistry::instance() {
  static auto* registry = new CfiRegistry();  // leaked: used until the process exits
  return *registry;
}

int32_t CfiRegistry::add(CfiArch arch, CfiBytes bytes) {
  auto owned = std::make_shared<CfiBytes>(std::move(bytes));
  CfiSections sections;
  if (owned->eh_frame_lazy) {
    LazySection* lazy = owned->eh_frame_lazy.get();
    sections.eh_frame = CfiSection{lazy->data(), lazy->size(), owned->eh_frame_vaddr};
    sections.eh_frame_lazy = lazy;
  } else {
    sections.eh_frame = CfiSection{owned->eh_frame.data(), owned->eh_frame.size(), owned->eh_frame_vaddr};
  }
  if (!owned->eh_frame_hdr.empty()) {
    sections.eh_frame_hdr =
        CfiSection{owned->eh_frame_hdr.data(), owned->eh_frame_hdr.size(), owned->eh_frame_hdr_vaddr};
  }
  if (!owned->debug_frame.empty())
    sections.debug_frame = CfiSection{owned->debug_frame.data(), owned->debug_frame.size(), 0};
  sections.owner = owned;
  auto table = std::make_unique<CfiTable>(arch, std::move(sections));
  std::lock_guard<std::mutex> guard(mutex_);
  // Ids are never reused: a stale id (a module evicted from the TS cache while some caller still
  // holds its mappings) must find nothing, never another module's table.
  tables_.push_back(std::move(table));
  return static_cast<int32_t>(tables_.size());
}

void CfiRegistry::remove(int32_t id) {
  std::lock_guard<std::mutex> guard(mutex_);
  if (id > 0 && static_cast<size_t>(id) <= tables_.size()) tables_[id - 1].reset();
}

CfiTable* CfiRegistry::get(int32_t id) {
  if (id <= 0 || static_cast<size_t>(id) > tables_.size()) return nullptr;
  return tables_[id - 1].get();
}

}  // namespace stackshot
