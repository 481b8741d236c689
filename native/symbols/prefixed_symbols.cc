#include "symbols/prefixed_symbols.h"

#include <cstring>

namespace stackshot {
namespace {

constexpr size_t kSymSize = 24;  // sizeof(Elf64_Sym)

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // ELF here is little-endian, as are both supported hosts
  return v;
}

bool starts_with(const SymbolSection& s, uint32_t off, const std::string& prefix) {
  return !prefix.empty() && off < s.strs_len && s.strs_len - off >= prefix.size() &&
         std::memcmp(s.strs + off, prefix.data(), prefix.size()) == 0;
}

}  // namespace

std::vector<PrefixedSymbol> symbols_with_prefix(const SymbolSection& s, const std::vector<std::string>& prefixes) {
  std::vector<PrefixedSymbol> out;
  const size_t count = s.syms_len / kSymSize;
  for (size_t i = 1; i < count; i++) {  // entry 0 is the null symbol
    const uint8_t* e = s.syms + i * kSymSize;
    const uint32_t name = load<uint32_t>(e);
    for (const std::string& p : prefixes) {
      if (!starts_with(s, name, p)) continue;
      out.push_back({name, load<uint64_t>(e + 8), load<uint64_t>(e + 16)});
      break;
    }
  }
  return out;
}

}  // namespace stackshot
