// Per-module CFI: finds the FDE for an address (through .eh_frame_hdr, else a scan index of
// .eh_frame, then .debug_frame), runs its program once, caches the FDE's compiled rows and
// answers later lookups in the same function with a binary search.
//
// Bytes: the table does not copy the sections. The caller keeps them alive for the table's
// lifetime, or hands ownership over in CfiSections::owner (e.g. a shared_ptr to the mmap or the
// vector holding them), which the table then keeps alive itself.
//
// Threads: a table is not thread-safe, not even for lookups (they fill the cache). Use one
// table from one thread at a time; unwinding several stacks in parallel needs one table each or
// external locking.
//
// Memory: with the table, a bucket index over .eh_frame_hdr (~4 bytes per FDE). From the first
// lookup on: a 1024-entry pc cache (56 KiB), 8 bytes of cache slot per FDE, and compiled rows
// (32 bytes each, plus one per FDE for its end) up to kMaxCachedRows, past which the row cache
// is emptied and refilled. Only without a usable .eh_frame_hdr (and always for .debug_frame):
// a scan index of ~28 bytes per FDE, built on first need or by prepare().
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "unwind/cfi/cfa_program.h"
#include "unwind/cfi/eh_frame.h"
#include "unwind/cfi/eh_frame_hdr.h"
#include "unwind/cfi/fde_index.h"
#include "unwind/cfi/unwind_rule.h"

namespace stackshot {

// A section's bytes and its link-time address (sh_addr). Empty when data is null or size 0.
struct CfiSection {
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint64_t vaddr = 0;
};

struct CfiSections {
  CfiSection eh_frame;      // .eh_frame (may extend past the section; parsing stops at errors)
  CfiSection eh_frame_hdr;  // optional; without a usable one, .eh_frame is scanned once
  CfiSection debug_frame;   // optional (e.g. from the separate debug file); vaddr unused
  // Bases for DW_EH_PE_textrel / DW_EH_PE_datarel pointers in .eh_frame. x86-64 and aarch64
  // toolchains do not emit them (libgcc would resolve them against 0 there; i386 uses the GOT):
  // leave these unset and such FDEs are reported as kBadEntry instead of being guessed at.
  uint64_t text_vaddr = 0;
  uint64_t got_vaddr = 0;
  bool has_text_vaddr = false;
  bool has_got_vaddr = false;
  LazySection* eh_frame_lazy = nullptr;  // set when eh_frame.data is read on demand (it owns them)
  std::shared_ptr<const void> owner;     // optional: kept alive as long as the table
};

// One row of an FDE's compiled table: `rule` holds from `pc` to the next row's pc (or the
// FDE's end). Consecutive rows always differ.
struct CfiRow {
  uint64_t pc;
  UnwindRule rule;
};

// Runs an FDE's program to the end and reduces every row to the compact rule. On a program
// error the rows up to the failing location are kept, followed by an unsupported row from
// there on, and the error is returned.
CfaStatus compile_fde_rows(const FrameSection& section, const CieInfo& cie, const FdeInfo& fde, CfiArch arch,
                           std::vector<CfiRow>* rows);

enum class CfiLookupStatus : uint8_t {
  kFound,     // rule is valid (its kinds may still say "unsupported")
  kNoFde,     // no FDE covers the address
  kBadEntry,  // an FDE (or its CIE) covers it but could not be parsed
};

struct CfiLookup {
  CfiLookupStatus status = CfiLookupStatus::kNoFde;
  UnwindRule rule;
  uint64_t row_begin = 0;  // the rule holds for every pc in [row_begin, row_end)
  uint64_t row_end = 0;
  uint64_t fde_begin = 0;
  uint64_t fde_end = 0;
  bool from_debug_frame = false;
  bool program_error = false;  // the FDE's program failed somewhere (rows past it are unsupported)
};

struct CfiTableStats {
  size_t hdr_entries = 0;      // FDEs in a usable .eh_frame_hdr table (0: none, or unusable)
  size_t eh_scan_entries = 0;  // FDEs in the .eh_frame scan index (built only without hdr)
  size_t debug_scan_entries = 0;
  size_t bad_entries = 0;  // entries the scans could not parse
  size_t cached_fdes = 0;
  size_t cached_rows = 0;
  uint64_t lookups = 0;
  uint64_t pc_hits = 0;     // answered by the per-pc cache
  uint64_t memo_hits = 0;   // answered by the last FDE used
  uint64_t cache_hits = 0;  // FDE found compiled in the cache
  uint64_t compiles = 0;    // FDE programs run
  uint64_t evictions = 0;   // times the cache was emptied for being full
};

class CfiTable {
 public:
  // ~16 MiB of rows at most (32 bytes each): all of node's 76k FDEs fit.
  static constexpr size_t kMaxCachedRows = size_t{1} << 19;

  CfiTable(CfiArch arch, CfiSections sections);
  CfiTable(const CfiTable&) = delete;
  CfiTable& operator=(const CfiTable&) = delete;

  // Builds what the first lookup would otherwise build (scan indexes). Optional.
  void prepare();

  // The rule in effect at vaddr (a link-time address of this module), or nullopt if no
  // usable FDE covers it. For return addresses pass pc - 1, as for symbolization.
  std::optional<UnwindRule> rule_for(uint64_t vaddr);
  // Same, with the range the rule holds for (for a caller-side memo) and why it failed.
  CfiLookup lookup(uint64_t vaddr);

  CfiArch arch() const { return arch_; }
  bool uses_eh_frame_hdr() const { return hdr_.usable(); }
  const FrameSection& eh_frame() const { return eh_; }
  const FrameSection& debug_frame() const { return debug_; }
  CfiTableStats stats() const;
  void clear_cache();

 private:
  // Cache slot of one FDE (one per hdr table entry / scan index entry): its rows are
  // rows_[first, first + count), followed by a sentinel row whose pc is the FDE's end.
  struct Slot {
    uint32_t first = kNotCompiled;
    uint32_t count : 31;
    uint32_t program_error : 1;
    Slot() : count(0), program_error(0) {}
  };
  static constexpr uint32_t kNotCompiled = UINT32_MAX;
  static constexpr uint32_t kBadFde = UINT32_MAX - 1;

  struct Located {
    size_t index;
    uint64_t fde_offset;
  };
  bool locate(bool debug, uint64_t vaddr, Located* out);
  CfiLookup lookup_in(bool debug, uint64_t vaddr);
  CfiLookup answer(const CfiRow* rows, uint32_t count, bool program_error, uint64_t vaddr, bool debug) const;
  void evict();

  CfiArch arch_;
  CfiSections sections_;
  FrameSection eh_;
  FrameSection debug_;
  EhFrameHdr hdr_;
  FdeIndex eh_index_;
  FdeIndex debug_index_;
  CieCache eh_cies_;
  CieCache debug_cies_;

  std::vector<Slot> eh_slots_;     // by hdr entry, or by eh_index_ entry without a hdr
  std::vector<Slot> debug_slots_;  // by debug_index_ entry
  std::vector<CfiRow> rows_;
  std::vector<CfiRow> scratch_;
  size_t cached_fdes_ = 0;
  // The last FDE answered from: repeated lookups in one function skip the search.
  struct Memo {
    bool valid = false;
    bool debug = false;
    bool program_error = false;
    uint32_t first = 0;
    uint32_t count = 0;
    uint64_t begin = 0;
    uint64_t end = 0;
  } memo_;
  // Direct-mapped cache of recent answers by pc (return addresses repeat from one stack to the
  // next). Entries are copies of rules, so eviction of rows_ does not invalidate them.
  struct PcEntry {
    uint64_t begin = 1;  // [begin, end) empty until filled
    uint64_t end = 0;
    UnwindRule rule;
    bool from_debug_frame = false;
    bool program_error = false;
    uint64_t fde_begin = 0;
    uint64_t fde_end = 0;
  };
  static constexpr unsigned kPcCacheBits = 10;
  std::vector<PcEntry> pc_cache_;
  mutable CfiTableStats stats_;
};

}  // namespace stackshot
