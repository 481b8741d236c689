#include "unwind/cfi/cfi_table.h"

#include <algorithm>
#include <utility>

namespace stackshot {

namespace {

constexpr uint64_t kDebugKeyBit = uint64_t{1} << 63;

// Reduces rows to compact rules as they come, merging equal neighbours.
class CompactSink : public RowSink {
 public:
  CompactSink(std::vector<CfiRow>* rows, CfiArch arch, bool signal_frame)
      : rows_(rows), arch_(arch), signal_frame_(signal_frame) {}
  bool row(uint64_t pc, const CfaRow& row) override {
    push(pc, compact_rule(row, arch_, signal_frame_));
    return true;
  }
  void push(uint64_t pc, const UnwindRule& rule) {
    if (!rows_->empty() && rows_->back().rule == rule) return;
    if (!rows_->empty() && rows_->back().pc == pc) {
      rows_->back().rule = rule;
      return;
    }
    rows_->push_back(CfiRow{pc, rule});
  }

 private:
  std::vector<CfiRow>* rows_;
  CfiArch arch_;
  bool signal_frame_;
};

PointerBases eh_bases(const CfiSections& s) {
  PointerBases b;
  b.text_vaddr = s.text_vaddr;
  b.has_text = s.has_text_vaddr;
  b.data_vaddr = s.got_vaddr;
  b.has_data = s.has_got_vaddr;
  return b;
}

}  // namespace

CfaStatus compile_fde_rows(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch,
                           std::vector<CfiRow>* rows) {
  rows->clear();
  CompactSink sink(rows, arch, cie.signal_frame);
  uint64_t error_pc = 0;
  const CfaStatus st = run_cfa_program(section, cie, fde, arch, ~uint64_t{0}, &sink, &error_pc);
  if (st != CfaStatus::kOk) sink.push(error_pc, unsupported_rule(cie.signal_frame));
  return st;
}

CfiTable::CfiTable(CfiArch arch, CfiSections sections) : arch_(arch), sections_(std::move(sections)) {
  const CfiSections& s = sections_;
  eh_ = FrameSection(FrameFormat::kEhFrame, s.eh_frame.data, s.eh_frame.size, s.eh_frame.vaddr, eh_bases(s),
                     s.eh_frame_lazy);
  debug_ = FrameSection(FrameFormat::kDebugFrame, s.debug_frame.data, s.debug_frame.size, 0);
  // The hdr is only usable if it describes this .eh_frame (its FDE addresses point into it).
  if (!eh_.empty() && hdr_.init(s.eh_frame_hdr.data, s.eh_frame_hdr.size, s.eh_frame_hdr.vaddr) &&
      hdr_.eh_frame_vaddr() != s.eh_frame.vaddr) {
    hdr_ = EhFrameHdr();
  }
}

void CfiTable::prepare() {
  if (!eh_.empty() && !hdr_.usable() && !eh_index_.built()) eh_index_.build(eh_, &eh_cies_);
  if (!debug_.empty() && !debug_index_.built()) debug_index_.build(debug_, &debug_cies_);
  if (!eh_.empty()) eh_slots_.resize(hdr_.usable() ? hdr_.fde_count() : eh_index_.size());
  if (!debug_.empty()) debug_slots_.resize(debug_index_.size());
}

bool CfiTable::locate(bool debug, uint64_t vaddr, Located* out) {
  if (!debug && hdr_.usable()) {
    uint64_t loc = 0;
    uint64_t fde_vaddr = 0;
    size_t index = 0;
    if (!hdr_.find(vaddr, &index, &loc, &fde_vaddr)) return false;
    // Wrapping subtraction: an FDE address below .eh_frame becomes huge and fails the bound.
    out->fde_offset = fde_vaddr - eh_.vaddr();
    out->index = index;
    return out->fde_offset < eh_.size();
  }
  FdeIndex& index = debug ? debug_index_ : eh_index_;
  if (!index.built()) index.build(debug ? debug_ : eh_, debug ? &debug_cies_ : &eh_cies_);
  const FdeIndexEntry* e = index.find(vaddr);
  if (e == nullptr) return false;
  out->fde_offset = e->fde_offset;
  out->index = static_cast<size_t>(e - index.entries().data());
  return true;
}

void CfiTable::evict() {
  stats_.evictions++;
  rows_.clear();
  for (Slot& s : eh_slots_) s = Slot();
  for (Slot& s : debug_slots_) s = Slot();
  cached_fdes_ = 0;
  memo_.valid = false;
}

CfiLookup CfiTable::answer(const CfiRow* rows, uint32_t count, bool program_error, uint64_t vaddr, bool debug) const {
  CfiLookup out;
  out.from_debug_frame = debug;
  // rows[count] is the sentinel: its pc is the FDE's end.
  if (count == 0 || vaddr < rows[0].pc || vaddr >= rows[count].pc) return out;  // kNoFde: a gap
  const CfiRow* it =
      std::upper_bound(rows, rows + count, vaddr, [](uint64_t pc, const CfiRow& row) { return pc < row.pc; });
  out.status = CfiLookupStatus::kFound;
  out.rule = (it - 1)->rule;
  out.row_begin = (it - 1)->pc;
  out.row_end = it->pc;  // the next row, or the sentinel
  out.fde_begin = rows[0].pc;
  out.fde_end = rows[count].pc;
  out.program_error = program_error;
  return out;
}

CfiLookup CfiTable::lookup_in(bool debug, uint64_t vaddr) {
  Located at;
  if (!locate(debug, vaddr, &at)) return CfiLookup();
  std::vector<Slot>& slots = debug ? debug_slots_ : eh_slots_;
  const size_t entries = debug ? debug_index_.size() : hdr_.usable() ? hdr_.fde_count() : eh_index_.size();
  if (slots.size() != entries) slots.resize(entries);
  if (at.index >= slots.size()) return CfiLookup();
  Slot slot = slots[at.index];
  if (slot.first == kNotCompiled) {
    const FrameSection& section = debug ? debug_ : eh_;
    FdeInfo fde;
    CieInfo cie;
    scratch_.clear();
    if (section.parse_fde(at.fde_offset, debug ? &debug_cies_ : &eh_cies_, &fde, &cie) != CfiError::kOk) {
      slots[at.index].first = kBadFde;
      CfiLookup bad;
      bad.status = CfiLookupStatus::kBadEntry;
      bad.from_debug_frame = debug;
      return bad;
    }
    stats_.compiles++;
    const bool error = compile_fde_rows(section, cie, fde, arch_, &scratch_) != CfaStatus::kOk;
    scratch_.push_back(CfiRow{fde.pc_end, unsupported_rule(false)});  // sentinel
    const uint32_t count = static_cast<uint32_t>(scratch_.size() - 1);
    if (scratch_.size() > kMaxCachedRows) {
      // Too big to cache (only hostile input gets here): answer from scratch_.
      memo_.valid = false;
      return answer(scratch_.data(), count, error, vaddr, debug);
    }
    if (rows_.size() + scratch_.size() > kMaxCachedRows) evict();
    slot.first = static_cast<uint32_t>(rows_.size());
    slot.count = count;
    slot.program_error = error ? 1 : 0;
    slots[at.index] = slot;
    rows_.insert(rows_.end(), scratch_.begin(), scratch_.end());
    cached_fdes_++;
  } else if (slot.first == kBadFde) {
    CfiLookup bad;
    bad.status = CfiLookupStatus::kBadEntry;
    bad.from_debug_frame = debug;
    return bad;
  } else {
    stats_.cache_hits++;
  }
  const CfiRow* rows = rows_.data() + slot.first;
  // A .debug_frame FDE may overlap .eh_frame ones, which take precedence: memoize only when
  // the section searched first answered.
  memo_.valid = !debug || eh_.empty();
  memo_.debug = debug;
  memo_.program_error = slot.program_error != 0;
  memo_.first = slot.first;
  memo_.count = slot.count;
  memo_.begin = rows[0].pc;
  memo_.end = rows[slot.count].pc;
  return answer(rows, slot.count, slot.program_error != 0, vaddr, debug);
}

CfiLookup CfiTable::lookup(uint64_t vaddr) {
  stats_.lookups++;
  if (pc_cache_.empty()) pc_cache_.resize(size_t{1} << kPcCacheBits);
  PcEntry& slot = pc_cache_[(vaddr * 0x9e3779b97f4a7c15ull) >> (64 - kPcCacheBits)];
  if (vaddr >= slot.begin && vaddr < slot.end) {
    stats_.pc_hits++;
    CfiLookup out;
    out.status = CfiLookupStatus::kFound;
    out.rule = slot.rule;
    out.row_begin = slot.begin;
    out.row_end = slot.end;
    out.fde_begin = slot.fde_begin;
    out.fde_end = slot.fde_end;
    out.from_debug_frame = slot.from_debug_frame;
    out.program_error = slot.program_error;
    return out;
  }
  CfiLookup out;
  if (memo_.valid && vaddr >= memo_.begin && vaddr < memo_.end) {
    stats_.memo_hits++;
    out = answer(rows_.data() + memo_.first, memo_.count, memo_.program_error, vaddr, memo_.debug);
  } else {
    if (!eh_.empty()) out = lookup_in(false, vaddr);
    if (out.status == CfiLookupStatus::kNoFde && !debug_.empty()) out = lookup_in(true, vaddr);
  }
  if (out.status == CfiLookupStatus::kFound) {
    // A .debug_frame row may span addresses that .eh_frame covers (and answers first): cache
    // such an answer for this pc only.
    const bool exact = out.from_debug_frame && !eh_.empty();
    slot.begin = exact ? vaddr : out.row_begin;
    slot.end = exact ? vaddr + 1 : out.row_end;
    slot.rule = out.rule;
    slot.fde_begin = out.fde_begin;
    slot.fde_end = out.fde_end;
    slot.from_debug_frame = out.from_debug_frame;
    slot.program_error = out.program_error;
  }
  return out;
}

std::optional<UnwindRule> CfiTable::rule_for(uint64_t vaddr) {
  const CfiLookup r = lookup(vaddr);
  if (r.status != CfiLookupStatus::kFound) return std::nullopt;
  return r.rule;
}

CfiTableStats CfiTable::stats() const {
  stats_.hdr_entries = hdr_.usable() ? hdr_.fde_count() : 0;
  stats_.eh_scan_entries = eh_index_.size();
  stats_.debug_scan_entries = debug_index_.size();
  stats_.bad_entries = eh_index_.bad_entries() + debug_index_.bad_entries();
  stats_.cached_fdes = cached_fdes_;
  stats_.cached_rows = rows_.size();
  return stats_;
}

void CfiTable::clear_cache() {
  const uint64_t evictions = stats_.evictions;
  evict();
  stats_.evictions = evictions;
  pc_cache_.clear();
  pc_cache_.shrink_to_fit();
}

}  // namespace stackshot
