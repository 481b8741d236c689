// A perf map's lines as the target writes them, and the segments resolved from them.
//
// Input: u8 flags (bit 0: skip the first line; bits 1-7: max name length), then the bytes.
#include <vector>

#include "fuzz_input.h"
#include "symbols/perf_map.h"

using namespace stackshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t flags = in.take<uint8_t>();
  size_t got = 0;
  const uint8_t* bytes = in.rest(&got);
  const PerfMapLines lines = parse_perf_map_lines(bytes, got, (flags & 1) != 0, 256, flags >> 1);
  const size_t n = lines.start.size();
  FUZZ_CHECK(lines.end.size() == n && lines.name_at.size() == n && lines.name_len.size() == n);
  FUZZ_CHECK(lines.consumed <= got && (lines.consumed == 0 || bytes[lines.consumed - 1] == '\n'));
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(lines.start[i] < lines.end[i] && lines.end[i] <= 9007199254740991.0);
    FUZZ_CHECK(lines.name_at[i] + size_t{lines.name_len[i]} <= lines.names.size());
    FUZZ_CHECK(lines.name_len[i] <= (flags >> 1) + 3u);  // a cut name ends in "…"
  }
  const OwnedSegments segs = perf_map_segments(lines.start.data(), lines.end.data(), 0, static_cast<uint32_t>(n));
  for (size_t k = 0; k < segs.owner.size(); k++) {
    const uint32_t o = segs.owner[k];
    FUZZ_CHECK(o < n && segs.start[k] < segs.end[k]);
    FUZZ_CHECK(lines.start[o] <= segs.start[k] && segs.end[k] <= lines.end[o]);
    if (k > 0) FUZZ_CHECK(segs.end[k - 1] <= segs.start[k]);
    // The owner is the newest entry covering the segment.
    for (size_t j = o + 1; j < n && j < o + 64; j++)
      FUZZ_CHECK(!(lines.start[j] <= segs.start[k] && segs.start[k] < lines.end[j]));
  }
  return 0;
}
