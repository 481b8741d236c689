#include "unwind/cfi_registry.h"

namespace stackshot {

CfiRegistry& CfiRegistry::instance() {
  static auto* registry = new CfiRegistry();  // leaked: used until the process exits
  return *registry;
}

int32_t CfiRegistry::add(CfiArch arch, CfiBytes bytes) {
  auto owned = std::make_shared<CfiBytes>(std::move(bytes));
  CfiSections sections;
  sections.eh_frame = CfiSection{owned->eh_frame.data(), owned->eh_frame.size(), owned->eh_frame_vaddr};
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
