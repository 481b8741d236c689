#include "symbols/symbol_index.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace stackshot {
namespace {

constexpr size_t kSymSize = 24;  // sizeof(Elf64_Sym)
constexpr uint8_t kSttNotype = 0, kSttFunc = 2, kSttGnuIfunc = 10;
constexpr uint8_t kStbLocal = 0, kStbWeak = 2;
constexpr uint16_t kShnUndef = 0, kShnLoreserve = 0xff00;
/** Sizes past 2^53 are nonsense (and not exact as JS Numbers): treated as unsized. */
constexpr uint64_t kMaxSize = uint64_t{1} << 53;

template <typename T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);  // ELF here is little-endian, as are both supported hosts
  return v;
}

/** What a symbol contributes, kept apart from the sort key so the sort moves 16 bytes. */
struct Payload {
  uint64_t size;
  uint32_t name_offset;
  uint16_t section;
};

struct SortKey {
  uint64_t start;
  /** Lower is better at equal start: unsized, binding, leading underscores (bit fields). */
  uint32_t rank;
  /** Index into the payloads, in input order: the earlier source wins at equal start and rank. */
  uint32_t seq;
};

uint32_t leading_underscores(const uint8_t* strs, size_t len, uint32_t off) {
  uint32_t n = 0;
  while (off + n < len && strs[off + n] == '_' && n < 255) n++;
  return n;
}

void collect(const SymbolSection& s, uint16_t section, std::vector<SortKey>& keys, std::vector<Payload>& payloads) {
  size_t count = s.syms_len / kSymSize;
  for (size_t i = 1; i < count; i++) {  // entry 0 is the null symbol
    const uint8_t* e = s.syms + i * kSymSize;
    uint8_t info = e[4];
    uint8_t type = info & 0xf, bind = info >> 4;
    uint16_t shndx = load<uint16_t>(e + 6);
    if (shndx == kShnUndef) continue;  // imports: defined elsewhere
    if (type != kSttFunc && type != kSttGnuIfunc && type != kSttNotype) continue;
    uint64_t size = load<uint64_t>(e + 16);
    if (size >= kMaxSize) size = 0;
    if (type == kSttNotype) {
      // Assembly routines often lack a type: accepted when sized and in code.
      if (size == 0 || shndx >= kShnLoreserve || shndx >= s.exec_len || s.exec[shndx] == 0) continue;
    }
    uint32_t name = load<uint32_t>(e);
    if (name == 0 || name >= s.strs_len || s.strs[name] == 0) continue;
    uint32_t bind_rank = bind == kStbLocal ? 2 : bind == kStbWeak ? 1 : 0;  // GLOBAL, GNU_UNIQUE: 0
    uint32_t rank = (uint32_t{size == 0} << 16) | (bind_rank << 8) | leading_underscores(s.strs, s.strs_len, name);
    keys.push_back({load<uint64_t>(e + 8), rank, static_cast<uint32_t>(payloads.size())});
    payloads.push_back({size, name, section});
  }
}

/**
 * Orders keys by (start, rank, seq): a stable LSD radix sort, by rank, then by start, a byte at a
 * time, skipping bytes every key shares. Keys arrive in seq order, which stability keeps. Node's
 * 110k symbols: std::sort took half of the index's build (~4 ms).
 */
void sort_keys(std::vector<SortKey>& keys) {
  std::vector<SortKey> scratch(keys.size());
  auto pass = [&](auto byte_of) {
    size_t count[256] = {};
    for (const SortKey& k : keys) count[byte_of(k)]++;
    for (size_t c : count) {
      if (c == keys.size()) return;  // every key has this byte: the order stands
    }
    size_t at = 0;
    for (size_t& c : count) at += std::exchange(c, at);
    for (const SortKey& k : keys) scratch[count[byte_of(k)]++] = k;
    keys.swap(scratch);
  };
  for (unsigned shift = 0; shift < 32; shift += 8) pass([shift](const SortKey& k) { return (k.rank >> shift) & 0xff; });
  for (unsigned shift = 0; shift < 64; shift += 8)
    pass([shift](const SortKey& k) { return (k.start >> shift) & 0xff; });
}

}  // namespace

SymbolIndex build_symbol_index(const std::vector<SymbolSection>& sections) {
  std::vector<SortKey> keys;
  std::vector<Payload> payloads;
  size_t total = 0;
  for (const auto& s : sections) total += s.syms_len / kSymSize;
  keys.reserve(total);
  payloads.reserve(total);
  for (size_t i = 0; i < sections.size(); i++) collect(sections[i], static_cast<uint16_t>(i), keys, payloads);
  sort_keys(keys);

  SymbolIndex idx;
  for (size_t k = 0; k < keys.size(); k++) {
    if (k > 0 && keys[k].start == keys[k - 1].start) continue;  // the best of each address is first
    const Payload& p = payloads[keys[k].seq];
    idx.start.push_back(keys[k].start);
    idx.size.push_back(p.size);
    idx.name_offset.push_back(p.name_offset);
    idx.section.push_back(p.section);
  }

  // Enclosing links, so an address past the end of a nested symbol (a cold part, an alias of
  // a sub-range) still finds the symbol around it: a stack of the ranges still open.
  idx.parent.resize(idx.start.size());
  std::vector<int32_t> open;
  for (size_t k = 0; k < idx.start.size(); k++) {
    while (!open.empty() && idx.start[k] - idx.start[open.back()] >= idx.size[open.back()]) open.pop_back();
    idx.parent[k] = open.empty() ? -1 : open.back();
    if (idx.size[k] > 0) open.push_back(static_cast<int32_t>(k));
  }
  return idx;
}

bool symbol_index_valid(size_t n, const uint32_t* name_offset, const uint16_t* section, const int32_t* parent,
                        const std::vector<uint64_t>& strs_lens) {
  for (size_t k = 0; k < n; k++) {
    if (section[k] >= strs_lens.size() || name_offset[k] >= strs_lens[section[k]]) return false;
    if (parent[k] < -1 || (parent[k] >= 0 && static_cast<size_t>(parent[k]) >= k)) return false;
  }
  return true;
}

}  // namespace stackshot
