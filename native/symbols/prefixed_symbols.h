// The symbols of one ELF symbol table whose names start with given prefixes: node's v8dbg_*
// post-mortem metadata among the 75k entries of its .dynsym. Native because a fresh process ran
// the same loop in V8's interpreter for 5 ms (of a first snapshot of node's 110 ms).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "symbols/symbol_index.h"

namespace stackshot {

struct PrefixedSymbol {
  /** The name's offset in the section's string table (the name runs to a NUL or the table's end). */
  uint32_t name_offset;
  /** st_value and st_size as the file has them: untrusted. */
  uint64_t value;
  uint64_t size;
};

/** Every entry of `s` (but the null one) whose name starts with one of `prefixes`, in table order. */
std::vector<PrefixedSymbol> symbols_with_prefix(const SymbolSection& s, const std::vector<std::string>& prefixes);

}  // namespace stackshot
