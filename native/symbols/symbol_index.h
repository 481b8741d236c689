// The address-sorted function-symbol index of one module, built from its ELF symbol tables.
// Native because it is the cold path's biggest cost: node's .symtab holds ~110k entries, and
// V8 runs a fresh process's first pass over them in its interpreter (~100 ms); here it takes
// a few milliseconds. Names stay in the string tables; JS decodes the few it needs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackshot {

/** One .symtab/.dynsym section (Elf64_Sym, little-endian) with its string table. */
struct SymbolSection {
  const uint8_t* syms;
  size_t syms_len;
  const uint8_t* strs;
  size_t strs_len;
  /** exec[shndx] != 0 when section shndx holds code (decides untyped symbols). */
  const uint8_t* exec;
  size_t exec_len;
};

/** Column layout: entry k is the k-th distinct start address, with its preferred name. */
struct SymbolIndex {
  std::vector<uint64_t> start;
  /** 0 for unsized symbols (those match their exact address only). */
  std::vector<uint64_t> size;
  std::vector<uint32_t> name_offset;
  /** Which input section the name is in. */
  std::vector<uint16_t> section;
  /** Nearest earlier sized entry whose range encloses this entry's start, or -1. */
  std::vector<int32_t> parent;
};

/**
 * Merges the function symbols of `sections` (earlier sections win ties). At one address the
 * name kept is the one perf would pick: sized over unsized, global over weak over local, fewer
 * leading underscores.
 */
SymbolIndex build_symbol_index(const std::vector<SymbolSection>& sections);

/**
 * Whether a stored index (the persistent cache's) is safe to use: every name lies inside its
 * string table (table k of strs_lens) and every parent precedes its entry (a lookup follows
 * parents: a cycle would never end). Columns of n entries each.
 */
bool symbol_index_valid(size_t n, const uint32_t* name_offset, const uint16_t* section, const int32_t* parent,
                        const std::vector<uint64_t>& strs_lens);

}  // namespace stackshot
