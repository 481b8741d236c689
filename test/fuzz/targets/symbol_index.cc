// The symbol index over ELF symbol tables the target's files supply (.symtab/.dynsym with
// their string tables and the executable-section map), and the prefix search over each table.
//
// Input: u8 section count (1-4), then per section u32 symbols size, u32 strings size,
//        u16 exec map size; then, per section, its symbols, strings and exec map bytes.
#include <vector>

#include "fuzz_input.h"
#include "symbols/prefixed_symbols.h"
#include "symbols/symbol_index.h"

using namespace stackshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const size_t count = in.take<uint8_t>() % 4 + 1;
  struct Sizes {
    uint32_t syms, strs;
    uint16_t exec;
  };
  std::vector<Sizes> sizes;
  for (size_t i = 0; i < count; i++) sizes.push_back({in.take<uint32_t>(), in.take<uint32_t>(), in.take<uint16_t>()});
  std::vector<SymbolSection> sections;
  for (const Sizes& s : sizes) {
    SymbolSection sec{};
    sec.syms = in.take_bytes(s.syms, &sec.syms_len);
    sec.strs = in.take_bytes(s.strs, &sec.strs_len);
    sec.exec = in.take_bytes(s.exec, &sec.exec_len);
    sections.push_back(sec);
  }
  for (const SymbolSection& s : sections) {
    for (const PrefixedSymbol& p : symbols_with_prefix(s, {"v8dbg_", "_Z"})) {
      FUZZ_CHECK(p.name_offset < s.strs_len);  // JS decodes the name from there
      FUZZ_CHECK(s.strs[p.name_offset] == 'v' || s.strs[p.name_offset] == '_');
    }
  }
  const SymbolIndex idx = build_symbol_index(sections);
  const size_t n = idx.start.size();
  FUZZ_CHECK(idx.size.size() == n && idx.name_offset.size() == n && idx.section.size() == n && idx.parent.size() == n);
  for (size_t k = 0; k < n; k++) {
    if (k > 0) FUZZ_CHECK(idx.start[k - 1] < idx.start[k]);
    FUZZ_CHECK(idx.section[k] < sections.size());
    const SymbolSection& s = sections[idx.section[k]];
    // The name is a non-empty string inside its table (JS reads it from there).
    FUZZ_CHECK(idx.name_offset[k] > 0 && idx.name_offset[k] < s.strs_len && s.strs[idx.name_offset[k]] != 0);
    const int32_t p = idx.parent[k];
    FUZZ_CHECK(p >= -1 && p < static_cast<int64_t>(k));
    if (p >= 0) FUZZ_CHECK(idx.size[p] > 0 && idx.start[k] - idx.start[p] < idx.size[p]);
  }
  return 0;
}
