// Test driver for native/unwind/cfi: loads the CFI sections of an ELF file and prints what the
// library makes of them, in a form test/cfi.test.ts compares with `readelf --debug-dump=frames-interp`.
//
//   cfi_dump [--debug-frame] [--every N] FILE          every FDE, every row (compact rules)
//   cfi_dump --lookup ADDR[,ADDR…] FILE                  CfiTable lookups (hex addresses)
//   cfi_dump --check [--debug-frame] FILE                 lookups (hdr and scan) == sequential rows
//   cfi_dump --bench FILE                                 index / compile / lookup timings
//   cfi_dump --fuzz ITERATIONS SEED FILE                  mutate the sections, parse, repeat
// Options: --no-hdr (ignore .eh_frame_hdr), --arch x86_64|aarch64 (default: from e_machine).
//
// Row format: `PC cfa=RULE ra=REG fp=REG [S] [pac]` where RULE is sp+N, fp+N, plt+K/T or ?,
// and REG is same, c+N / c-N (saved at CFA+N), undef or ?.
//
// The ELF reading here is deliberately minimal (ELF64 little-endian section headers only); it
// is test scaffolding, not part of the library.
#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "unwind/cfi/cfi_table.h"

using namespace stackshot;

namespace {

[[noreturn]] void die(const char* fmt, const char* arg = "") {
  std::fprintf(stderr, "cfi_dump: ");
  std::fprintf(stderr, fmt, arg);
  std::fprintf(stderr, "\n");
  std::exit(2);
}

struct Elf {
  const uint8_t* data = nullptr;
  size_t size = 0;
  uint16_t machine = 0;
  CfiSection eh_frame, eh_frame_hdr, debug_frame;
};

Elf load_elf(const char* path) {
  Elf elf;
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("cannot open %s", path);
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Elf64_Ehdr))) die("not an ELF file: %s", path);
  void* map = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) die("cannot map %s", path);
  elf.data = static_cast<const uint8_t*>(map);
  elf.size = static_cast<size_t>(st.st_size);

  Elf64_Ehdr eh;
  std::memcpy(&eh, elf.data, sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    die("not an ELF64 little-endian file: %s", path);
  }
  elf.machine = eh.e_machine;
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shoff == 0 || eh.e_shoff > elf.size)
    die("no section headers: %s", path);
  auto shdr = [&](size_t i) {
    Elf64_Shdr s;
    const uint64_t off = eh.e_shoff + i * sizeof(Elf64_Shdr);
    if (off + sizeof(Elf64_Shdr) > elf.size) die("section header out of file: %s", path);
    std::memcpy(&s, elf.data + off, sizeof(s));
    return s;
  };
  size_t count = eh.e_shnum;
  size_t strndx = eh.e_shstrndx;
  if (count == 0) count = shdr(0).sh_size;
  if (strndx == SHN_XINDEX) strndx = shdr(0).sh_link;
  if (strndx >= count) die("bad e_shstrndx: %s", path);
  const Elf64_Shdr strtab = shdr(strndx);
  if (strtab.sh_offset > elf.size || strtab.sh_size > elf.size - strtab.sh_offset) die("bad .shstrtab: %s", path);
  for (size_t i = 0; i < count; i++) {
    const Elf64_Shdr s = shdr(i);
    if (s.sh_name >= strtab.sh_size) continue;
    const char* name = reinterpret_cast<const char*>(elf.data + strtab.sh_offset + s.sh_name);
    const size_t max_len = strtab.sh_size - s.sh_name;
    if (strnlen(name, max_len) == max_len) continue;
    const std::string n(name);
    CfiSection* target = n == ".eh_frame"       ? &elf.eh_frame
                         : n == ".eh_frame_hdr" ? &elf.eh_frame_hdr
                         : n == ".debug_frame"  ? &elf.debug_frame
                                                : nullptr;
    if (target == nullptr || s.sh_type == SHT_NOBITS) continue;
    if (s.sh_flags & SHF_COMPRESSED) die("compressed section %s is not supported by this driver", name);
    if (s.sh_offset > elf.size || s.sh_size > elf.size - s.sh_offset) die("section %s out of file", name);
    target->data = elf.data + s.sh_offset;
    target->size = s.sh_size;
    target->vaddr = s.sh_addr;
  }
  return elf;
}

CfiArch arch_of(const Elf& elf, const char* override_name) {
  if (override_name != nullptr) {
    if (std::strcmp(override_name, "x86_64") == 0) return CfiArch::kX86_64;
    if (std::strcmp(override_name, "aarch64") == 0) return CfiArch::kAarch64;
    die("unknown --arch %s", override_name);
  }
  if (elf.machine == EM_X86_64) return CfiArch::kX86_64;
  if (elf.machine == EM_AARCH64) return CfiArch::kAarch64;
  die("unsupported e_machine");
}

CfiSections sections_of(const Elf& elf, bool use_hdr) {
  CfiSections s;
  s.eh_frame = elf.eh_frame;
  if (use_hdr) s.eh_frame_hdr = elf.eh_frame_hdr;
  s.debug_frame = elf.debug_frame;
  // textrel/datarel bases stay unset: see CfiSections.
  return s;
}

FrameSection frame_section(const Elf& elf, bool debug) {
  const CfiSections s = sections_of(elf, false);
  if (debug) return FrameSection(FrameFormat::kDebugFrame, s.debug_frame.data, s.debug_frame.size, 0);
  return FrameSection(FrameFormat::kEhFrame, s.eh_frame.data, s.eh_frame.size, s.eh_frame.vaddr);
}

std::string reg_text(RegRuleKind kind, int32_t offset) {
  char buf[32];
  switch (kind) {
    case RegRuleKind::kUnchanged: return "same";
    case RegRuleKind::kUndefined: return "undef";
    case RegRuleKind::kAtCfaOffset: std::snprintf(buf, sizeof buf, "c%+d", offset); return buf;
    case RegRuleKind::kUnsupported: return "?";
  }
  return "?";
}

std::string rule_text(const UnwindRule& r) {
  char cfa[48];
  switch (r.cfa_kind) {
    case CfaKind::kSpOffset: std::snprintf(cfa, sizeof cfa, "sp%+d", r.cfa_offset); break;
    case CfaKind::kFpOffset: std::snprintf(cfa, sizeof cfa, "fp%+d", r.cfa_offset); break;
    case CfaKind::kPltExpression: std::snprintf(cfa, sizeof cfa, "plt%+d/%u", r.cfa_offset, r.plt_threshold); break;
    case CfaKind::kUnsupported: std::snprintf(cfa, sizeof cfa, "?"); break;
  }
  std::string out =
      std::string("cfa=") + cfa + " ra=" + reg_text(r.ra_kind, r.ra_offset) + " fp=" + reg_text(r.fp_kind, r.fp_offset);
  if (r.signal_frame) out += " S";
  if (r.ra_signed) out += " pac";
  return out;
}

// Calls fn(entry offset, fde, cie, status) for every FDE of the section, in section order.
template <typename Fn>
void for_each_fde(const FrameSection& section, CieCache* cies, Fn fn, bool quiet = false) {
  uint64_t offset = 0;
  FrameEntry entry;
  for (;;) {
    const CfiError err = section.read_entry(offset, &entry);
    if (err == CfiError::kEnd) return;
    if (err != CfiError::kOk) {
      if (!quiet) std::printf("ENTRY %08" PRIx64 " error %s\n", offset, cfi_error_name(err));
      return;
    }
    offset = entry.end;
    if (entry.kind != FrameEntry::Kind::kFde) continue;
    FdeInfo fde;
    CieInfo cie;
    const CfiError e = section.parse_fde(entry.offset, cies, &fde, &cie);
    fn(entry.offset, fde, cie, e);
  }
}

int dump(const Elf& elf, CfiArch arch, bool debug, uint64_t every) {
  const FrameSection section = frame_section(elf, debug);
  if (section.empty()) die(debug ? "no .debug_frame" : "no .eh_frame");
  CieCache cies;
  std::vector<CfiRow> rows;
  uint64_t index = 0;
  std::string out;
  out.reserve(1 << 20);
  for_each_fde(section, &cies, [&](uint64_t offset, const FdeInfo& fde, const CieInfo& cie, CfiError err) {
    if (index++ % every != 0) return;
    char line[160];
    if (err != CfiError::kOk) {
      std::snprintf(line, sizeof line, "FDE %08" PRIx64 " error %s\n", offset, cfi_error_name(err));
      out += line;
      return;
    }
    std::snprintf(line, sizeof line, "FDE %08" PRIx64 " %016" PRIx64 "..%016" PRIx64 "\n", offset, fde.pc_begin,
                  fde.pc_end);
    out += line;
    const CfaStatus st = compile_fde_rows(section, cie, fde, arch, &rows);
    for (const CfiRow& row : rows) {
      std::snprintf(line, sizeof line, "%016" PRIx64 " ", row.pc);
      out += line;
      out += rule_text(row.rule);
      out += '\n';
    }
    if (st != CfaStatus::kOk) {
      out += "! ";
      out += cfa_status_name(st);
      out += '\n';
    }
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  });
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

const char* status_name(CfiLookupStatus s) {
  switch (s) {
    case CfiLookupStatus::kFound: return "found";
    case CfiLookupStatus::kNoFde: return "no-fde";
    case CfiLookupStatus::kBadEntry: return "bad-entry";
  }
  return "?";
}

int lookup(const Elf& elf, CfiArch arch, bool use_hdr, const char* list) {
  CfiTable table(arch, sections_of(elf, use_hdr));
  std::string rest(list);
  size_t pos = 0;
  while (pos <= rest.size()) {
    size_t comma = rest.find(',', pos);
    if (comma == std::string::npos) comma = rest.size();
    const std::string item = rest.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    const uint64_t addr = std::strtoull(item.c_str(), nullptr, 16);
    const CfiLookup r = table.lookup(addr);
    std::printf("%016" PRIx64 " %s", addr, status_name(r.status));
    if (r.status == CfiLookupStatus::kFound) {
      std::printf(" row=%" PRIx64 "..%" PRIx64 " fde=%" PRIx64 "..%" PRIx64 " src=%s %s", r.row_begin, r.row_end,
                  r.fde_begin, r.fde_end, r.from_debug_frame ? "debug_frame" : "eh_frame", rule_text(r.rule).c_str());
    }
    std::printf("\n");
  }
  return 0;
}

// Every row boundary (and the last byte of every row) looked up through the table must give
// the row the sequential parse produced.
int check(const Elf& elf, CfiArch arch, bool debug) {
  const FrameSection section = frame_section(elf, debug);
  CfiSections only = sections_of(elf, true);
  if (debug)
    only.eh_frame = only.eh_frame_hdr = CfiSection();
  else
    only.debug_frame = CfiSection();
  CfiTable with_hdr(arch, only);
  only.eh_frame_hdr = CfiSection();
  CfiTable scan(arch, only);
  CieCache cies;
  std::vector<CfiRow> rows;
  uint64_t fdes = 0, nrows = 0, lookups = 0, mismatches = 0;
  for_each_fde(section, &cies, [&](uint64_t offset, const FdeInfo& fde, const CieInfo& cie, CfiError err) {
    if (err != CfiError::kOk || fde.pc_end <= fde.pc_begin) return;
    fdes++;
    compile_fde_rows(section, cie, fde, arch, &rows);
    for (size_t i = 0; i < rows.size(); i++) {
      nrows++;
      const uint64_t end = i + 1 < rows.size() ? rows[i + 1].pc : fde.pc_end;
      for (uint64_t pc : {rows[i].pc, end - 1}) {
        for (CfiTable* t : {&with_hdr, &scan}) {
          lookups++;
          const CfiLookup r = t->lookup(pc);
          if (r.status != CfiLookupStatus::kFound || r.rule != rows[i].rule || r.row_begin != rows[i].pc ||
              r.row_end != end) {
            if (mismatches++ < 20) {
              std::printf("mismatch fde=%08" PRIx64 " pc=%016" PRIx64 " %s: got %s %s [%" PRIx64 ",%" PRIx64
                          ") want %s [%" PRIx64 ",%" PRIx64 ")\n",
                          offset, pc, t == &scan ? "scan" : "hdr", status_name(r.status), rule_text(r.rule).c_str(),
                          r.row_begin, r.row_end, rule_text(rows[i].rule).c_str(), rows[i].pc, end);
            }
          }
        }
      }
    }
  });
  const CfiTableStats s = with_hdr.stats();
  std::printf("check fdes=%" PRIu64 " rows=%" PRIu64 " lookups=%" PRIu64 " mismatches=%" PRIu64
              " hdr_entries=%zu scan_entries=%zu bad_entries=%zu evictions=%" PRIu64 "\n",
              fdes, nrows, lookups, mismatches, s.hdr_entries,
              scan.stats().eh_scan_entries + scan.stats().debug_scan_entries, scan.stats().bad_entries, s.evictions);
  return mismatches == 0 ? 0 : 1;
}

using Clock = std::chrono::steady_clock;
double us_since(Clock::time_point t0) { return std::chrono::duration<double, std::micro>(Clock::now() - t0).count(); }

// Lookup timings use this thread's CPU time: the tests share two vCPUs with other test files,
// and time spent descheduled is not the lookup's.
double thread_cpu_ns() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Lcg {
  uint64_t s;
  uint64_t next() {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return s >> 17;
  }
};

volatile uint64_t g_sink;

int bench(const Elf& elf, CfiArch arch) {
  const FrameSection section = frame_section(elf, false);
  if (section.empty()) die("no .eh_frame");
  // FDE ranges, for sample addresses.
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  CieCache cies;
  auto t0 = Clock::now();
  std::vector<CfiRow> rows;
  uint64_t total_rows = 0;
  for_each_fde(section, &cies, [&](uint64_t, const FdeInfo& fde, const CieInfo& cie, CfiError err) {
    if (err != CfiError::kOk || fde.pc_end <= fde.pc_begin) return;
    ranges.emplace_back(fde.pc_begin, fde.pc_end);
    compile_fde_rows(section, cie, fde, arch, &rows);
    total_rows += rows.size();
  });
  const double parse_compile_all_us = us_since(t0);

  t0 = Clock::now();
  CfiTable hdr_table(arch, sections_of(elf, true));
  hdr_table.prepare();
  const double index_hdr_us = us_since(t0);
  t0 = Clock::now();
  CfiTable scan_table(arch, sections_of(elf, false));
  scan_table.prepare();
  const double index_scan_us = us_since(t0);

  const size_t n = 200000;
  std::vector<uint64_t> addrs(n);
  Lcg rng{12345};
  for (size_t i = 0; i < n; i++) {
    const auto& r = ranges[rng.next() % ranges.size()];
    addrs[i] = r.first + rng.next() % (r.second - r.first);
  }
  auto pass = [&](CfiTable& t, const std::vector<uint64_t>& a) {
    const double s = thread_cpu_ns();
    uint64_t acc = 0;
    for (uint64_t x : a) {
      const CfiLookup r = t.lookup(x);
      acc += static_cast<uint64_t>(r.rule.cfa_offset) + static_cast<uint64_t>(r.status);
    }
    g_sink = acc;
    return (thread_cpu_ns() - s) / static_cast<double>(a.size());
  };
  // Cold: every FDE's first lookup compiles it. Use distinct FDEs so each lookup is a miss.
  std::vector<uint64_t> cold_addrs;
  for (size_t i = 0; i < ranges.size() && cold_addrs.size() < 20000; i += std::max<size_t>(1, ranges.size() / 20000)) {
    cold_addrs.push_back(ranges[i].first + (ranges[i].second - ranges[i].first) / 2);
  }
  CfiTable cold_table(arch, sections_of(elf, true));
  cold_table.prepare();
  const double cold_ns = pass(cold_table, cold_addrs);
  const double warm_ns = pass(hdr_table, addrs);  // first pass warms the cache
  const double warm2_ns = pass(hdr_table, addrs);
  pass(scan_table, addrs);
  const double warm_scan_ns = pass(scan_table, addrs);
  // A working set like an unwinder's: 2000 functions, random pcs within them.
  std::vector<uint64_t> ws(n);
  for (size_t i = 0; i < n; i++) {
    const auto& r = ranges[(rng.next() % 2000) * (ranges.size() / 2000)];
    ws[i] = r.first + rng.next() % (r.second - r.first);
  }
  pass(hdr_table, ws);
  const double working_set_ns = pass(hdr_table, ws);
  // Same function over and over (a deep recursion): the last-FDE memo.
  std::vector<uint64_t> same(n);
  const auto& r0 = ranges[ranges.size() / 2];
  for (size_t i = 0; i < n; i++) same[i] = r0.first + rng.next() % (r0.second - r0.first);
  const double same_ns = pass(hdr_table, same);
  const CfiTableStats s = hdr_table.stats();
  std::printf("bench fdes=%zu rows=%" PRIu64
              " eh_frame_bytes=%zu parse_compile_all_us=%.0f index_hdr_us=%.1f "
              "index_scan_us=%.0f cold_ns=%.0f warm_first_ns=%.0f warm_ns=%.0f warm_scan_ns=%.0f working_set_ns=%.0f "
              "same_fde_ns=%.1f "
              "cached_fdes=%zu cached_rows=%zu evictions=%" PRIu64 "\n",
              ranges.size(), total_rows, section.size(), parse_compile_all_us, index_hdr_us, index_scan_us, cold_ns,
              warm_ns, warm2_ns, warm_scan_ns, working_set_ns, same_ns, s.cached_fdes, s.cached_rows, s.evictions);
  return 0;
}

// In-process fuzzing: each iteration copies the sections, damages them, and runs everything a
// lookup can reach. A crash or sanitizer report ends the process; the last printed line says
// which iteration.
int fuzz(const Elf& elf, CfiArch arch, uint64_t iterations, uint64_t seed) {
  const CfiSections orig = sections_of(elf, true);
  if (orig.eh_frame.size == 0 && orig.debug_frame.size == 0) die("nothing to fuzz");
  std::vector<uint64_t> entry_offsets;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (bool debug : {false, true}) {
    const FrameSection section = frame_section(elf, debug);
    FrameEntry e;
    for (uint64_t off = 0; section.read_entry(off, &e) == CfiError::kOk; off = e.end) {
      if (!debug) entry_offsets.push_back(off);
    }
    CieCache cies;
    for_each_fde(
        section, &cies,
        [&](uint64_t, const FdeInfo& fde, const CieInfo&, CfiError err) {
          if (err == CfiError::kOk && fde.pc_end > fde.pc_begin) ranges.emplace_back(fde.pc_begin, fde.pc_end);
        },
        /*quiet=*/true);
  }
  if (ranges.empty()) ranges.emplace_back(0, 0x1000);
  Lcg rng{seed * 2654435761u + 1};
  double max_us = 0, total_us = 0;
  uint64_t total_rows = 0, errors = 0;
  std::vector<CfiRow> rows;
  for (uint64_t it = 0; it < iterations; it++) {
    const auto t0 = Clock::now();
    std::vector<uint8_t> eh(orig.eh_frame.data, orig.eh_frame.data + orig.eh_frame.size);
    std::vector<uint8_t> hdr(orig.eh_frame_hdr.data, orig.eh_frame_hdr.data + orig.eh_frame_hdr.size);
    std::vector<uint8_t> dbg(orig.debug_frame.data, orig.debug_frame.data + orig.debug_frame.size);
    // Damage: random bytes clustered around one spot, sometimes a length field, sometimes the
    // header, sometimes a truncation.
    std::vector<uint8_t>& target = (!dbg.empty() && (eh.empty() || rng.next() % 4 == 0)) ? dbg : eh;
    uint64_t center = target.empty() ? 0 : rng.next() % target.size();
    if (&target == &eh && !entry_offsets.empty() && rng.next() % 4 == 0) {
      center = entry_offsets[rng.next() % entry_offsets.size()];
      if (center + 4 <= eh.size()) {
        const uint32_t v = rng.next() % 3 == 0 ? 0xffffffffu : static_cast<uint32_t>(rng.next());
        std::memcpy(&eh[center], &v, 4);
      }
    }
    const unsigned flips = 1 + rng.next() % 16;
    for (unsigned i = 0; i < flips && !target.empty(); i++) {
      const uint64_t p = (center + rng.next() % 64) % target.size();
      target[p] = static_cast<uint8_t>(rng.next() % 3 == 0 ? rng.next() % 0x30 : rng.next());
    }
    if (!hdr.empty() && rng.next() % 3 == 0) {
      for (unsigned i = 0; i < 1 + rng.next() % 8; i++) hdr[rng.next() % hdr.size()] = static_cast<uint8_t>(rng.next());
    }
    if (rng.next() % 8 == 0 && !target.empty()) target.resize(rng.next() % target.size());
    if (rng.next() % 16 == 0 && !hdr.empty()) hdr.resize(rng.next() % hdr.size());

    // The vectors are exactly sized, so ASan catches a read one byte past a section.
    CfiSections s = orig;
    s.eh_frame.data = eh.data();
    s.eh_frame.size = eh.size();
    s.eh_frame_hdr.data = hdr.data();
    s.eh_frame_hdr.size = hdr.size();
    s.debug_frame.data = dbg.data();
    s.debug_frame.size = dbg.size();
    for (bool use_hdr : {true, false}) {
      CfiSections si = s;
      if (!use_hdr) si.eh_frame_hdr = CfiSection();
      CfiTable table(arch, si);
      for (int k = 0; k < 64; k++) {
        const auto& r = ranges[rng.next() % ranges.size()];
        uint64_t addr = r.first + (r.second > r.first ? rng.next() % (r.second - r.first) : 0);
        if (k % 16 == 0) addr = rng.next() << (rng.next() % 40);
        const CfiLookup res = table.lookup(addr);
        if (res.status == CfiLookupStatus::kFound && (addr < res.row_begin || addr >= res.row_end)) {
          std::printf("fuzz iteration %" PRIu64 ": row [%" PRIx64 ",%" PRIx64 ") does not contain %" PRIx64 "\n", it,
                      res.row_begin, res.row_end, addr);
          return 1;
        }
      }
    }
    // Sequential parse of the entries near the damage.
    for (bool debug : {false, true}) {
      const std::vector<uint8_t>& bytes = debug ? dbg : eh;
      const FrameSection section =
          debug ? FrameSection(FrameFormat::kDebugFrame, bytes.data(), bytes.size(), 0)
                : FrameSection(FrameFormat::kEhFrame, bytes.data(), bytes.size(), orig.eh_frame.vaddr);
      CieCache cies;
      for_each_fde(
          section, &cies,
          [&](uint64_t offset, const FdeInfo& fde, const CieInfo& cie, CfiError err) {
            if (err != CfiError::kOk) {
              errors++;
              return;
            }
            if (&bytes == &target && (offset + 4096 < center || offset > center + 4096)) return;
            if (compile_fde_rows(section, cie, fde, arch, &rows) != CfaStatus::kOk) errors++;
            total_rows += rows.size();
          },
          /*quiet=*/true);
    }
    const double us = us_since(t0);
    max_us = std::max(max_us, us);
    total_us += us;
  }
  std::printf("fuzz iterations=%" PRIu64 " errors=%" PRIu64 " rows=%" PRIu64 " max_iteration_us=%.0f total_ms=%.0f\n",
              iterations, errors, total_rows, max_us, total_us / 1000.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bool debug = false, use_hdr = true, do_check = false, do_bench = false;
  const char* lookup_list = nullptr;
  const char* arch_name = nullptr;
  uint64_t every = 1, fuzz_iterations = 0, fuzz_seed = 0;
  const char* file = nullptr;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto need = [&](int n) {
      if (i + n >= argc) die("missing value for %s", argv[i]);
    };
    if (a == "--debug-frame")
      debug = true;
    else if (a == "--no-hdr")
      use_hdr = false;
    else if (a == "--check")
      do_check = true;
    else if (a == "--bench")
      do_bench = true;
    else if (a == "--every") {
      need(1);
      every = std::max<uint64_t>(1, std::strtoull(argv[++i], nullptr, 10));
    } else if (a == "--lookup") {
      need(1);
      lookup_list = argv[++i];
    } else if (a == "--arch") {
      need(1);
      arch_name = argv[++i];
    } else if (a == "--fuzz") {
      need(2);
      fuzz_iterations = std::strtoull(argv[++i], nullptr, 10);
      fuzz_seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a.size() > 1 && a[0] == '-')
      die("unknown option %s", argv[i]);
    else
      file = argv[i];
  }
  if (file == nullptr) die("usage: cfi_dump [options] FILE");
  const Elf elf = load_elf(file);
  const CfiArch arch = arch_of(elf, arch_name);
  if (fuzz_iterations > 0) return fuzz(elf, arch, fuzz_iterations, fuzz_seed);
  if (do_bench) return bench(elf, arch);
  if (do_check) return check(elf, arch, debug);
  if (lookup_list != nullptr) return lookup(elf, arch, use_hdr, lookup_list);
  return dump(elf, arch, debug, every);
}
