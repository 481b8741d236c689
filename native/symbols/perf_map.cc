#include "symbols/perf_map.h"

#include <algorithm>
#include <cstring>
#include <queue>

namespace stackshot {

namespace {

constexpr uint64_t kMaxSafe = (uint64_t{1} << 53) - 1;
constexpr uint8_t kEllipsis[] = {0xe2, 0x80, 0xa6};  // "…"

int hex_digit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A hex number (optionally 0x-prefixed) in [a, b), at most 16 digits; false unless one below 2^53.
bool parse_hex(const uint8_t* a, const uint8_t* b, uint64_t* out) {
  if (b - a > 2 && a[0] == '0' && (a[1] == 'x' || a[1] == 'X')) a += 2;
  if (b <= a || b - a > 16) return false;
  uint64_t v = 0;
  for (const uint8_t* p = a; p < b; ++p) {
    const int d = hex_digit(*p);
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  if (v > kMaxSafe) return false;
  *out = v;
  return true;
}

void add_line(const uint8_t* a, const uint8_t* b, size_t max_name, PerfMapLines* out) {
  if (b > a && b[-1] == '\r') --b;
  const uint8_t* s1 = static_cast<const uint8_t*>(memchr(a, ' ', b - a));
  if (s1 == nullptr || s1 == a) return;
  const uint8_t* s2 = static_cast<const uint8_t*>(memchr(s1 + 1, ' ', b - (s1 + 1)));
  if (s2 == nullptr || s2 == s1 + 1) return;
  uint64_t start = 0;
  uint64_t size = 0;
  if (!parse_hex(a, s1, &start) || !parse_hex(s1 + 1, s2, &size) || size == 0) return;
  if (size > kMaxSafe - start) return;
  const uint8_t* name = s2 + 1;
  const bool cut = static_cast<size_t>(b - name) > max_name;
  const size_t len = cut ? max_name : static_cast<size_t>(b - name);
  out->name_at.push_back(static_cast<uint32_t>(out->names.size()));
  out->names.insert(out->names.end(), name, name + len);
  if (cut) out->names.insert(out->names.end(), kEllipsis, kEllipsis + sizeof kEllipsis);
  out->name_len.push_back(static_cast<uint16_t>(len + (cut ? sizeof kEllipsis : 0)));
  out->start.push_back(static_cast<double>(start));
  out->end.push_back(static_cast<double>(start + size));
}

}  // namespace

PerfMapLines parse_perf_map_lines(const uint8_t* data, size_t size, bool skip_first, size_t max_line, size_t max_name) {
  PerfMapLines out;
  // Names live in a pool addressed by 32-bit offsets and 16-bit lengths.
  max_name = std::min<size_t>(max_name, 0xffff - sizeof kEllipsis);
  if (size > UINT32_MAX) size = UINT32_MAX;
  size_t ls = 0;
  bool skipping = skip_first;
  while (ls < size) {
    const uint8_t* nl = static_cast<const uint8_t*>(memchr(data + ls, '\n', size - ls));
    if (nl == nullptr) break;
    const size_t end = static_cast<size_t>(nl - data);
    if (!skipping && end - ls <= max_line) add_line(data + ls, nl, max_name, &out);
    skipping = false;
    ls = end + 1;
  }
  out.consumed = ls;
  return out;
}

OwnedSegments perf_map_segments(const double* start, const double* end, uint32_t from, uint32_t to) {
  OwnedSegments out;
  if (to <= from) return out;
  const size_t n = to - from;
  std::vector<uint32_t> by_start(n);
  for (size_t i = 0; i < n; ++i) by_start[i] = from + static_cast<uint32_t>(i);
  std::stable_sort(by_start.begin(), by_start.end(), [&](uint32_t x, uint32_t y) { return start[x] < start[y]; });
  std::vector<double> bounds;
  bounds.reserve(2 * n);
  bounds.insert(bounds.end(), start + from, start + to);
  bounds.insert(bounds.end(), end + from, end + to);
  std::sort(bounds.begin(), bounds.end());
  // Sweep the boundaries with a max-heap of the entries covering them, newest on top; entries
  // that ended leave lazily, when they surface.
  std::priority_queue<uint32_t> active;
  size_t next = 0;
  for (size_t p = 0; p + 1 < bounds.size(); ++p) {
    const double at = bounds[p];
    const double up_to = bounds[p + 1];
    if (up_to == at) continue;
    while (next < n && start[by_start[next]] <= at) active.push(by_start[next++]);
    while (!active.empty() && end[active.top()] <= at) active.pop();
    if (active.empty()) continue;
    const uint32_t owner = active.top();
    if (!out.owner.empty() && out.owner.back() == owner && out.end.back() == at) {
      out.end.back() = up_to;
    } else {
      out.start.push_back(at);
      out.end.push_back(up_to);
      out.owner.push_back(owner);
    }
  }
  return out;
}

}  // namespace stackshot
