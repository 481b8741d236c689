// Perf maps (/tmp/perf-<pid>.map: one `START SIZE name` line per JIT code object, hex numbers),
// parsed and resolved natively: in a fresh CLI the same loops ran interpreted, 20 ms for a busy
// node's 2,700 lines. src/symbolize/perf-map.ts keeps the file handling (reading, windows,
// caching, levels, lookups); the rules for a line and for who owns an address are here.
//
// The target writes the file: every line is untrusted. Malformed lines are skipped, lines longer
// than max_line are never parsed, names are cut at max_name (marked with an ellipsis), and
// addresses are kept only when they and START + SIZE are below 2^53 (exact as JS Numbers).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace stackshot {

struct PerfMapLines {
  std::vector<double> start;
  std::vector<double> end;
  std::vector<uint32_t> name_at;  // into names
  std::vector<uint16_t> name_len;
  std::vector<uint8_t> names;  // UTF-8, as in the file (cut names end in "…")
  size_t consumed = 0;         // bytes up to and including the last newline
};

// Parses every line of data that ends in a newline. With skip_first, the bytes up to the first
// newline are the rest of an over-long line and are skipped.
PerfMapLines parse_perf_map_lines(const uint8_t* data, size_t size, bool skip_first, size_t max_line, size_t max_name);

struct OwnedSegments {
  std::vector<double> start;
  std::vector<double> end;
  std::vector<uint32_t> owner;  // entry index
};

// Disjoint, sorted segments over entries [from, to) (ranges [start, end)): each owned by the
// newest entry (highest index) covering it; neighbours with one owner are merged.
OwnedSegments perf_map_segments(const double* start, const double* end, uint32_t from, uint32_t to);

}  // namespace stackshot
