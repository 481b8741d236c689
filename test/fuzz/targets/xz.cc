// .xz streams as a binary's .gnu_debugdata holds them (MiniDebugInfo). liblzma does the
// decoding; what is fuzzed is our code around it: the index walk that finds the declared size,
// the output cap, and the buffer handed to the decoder.
//
// Input: u24 output cap (0: the default, here limited to 16 MiB), then the stream.
#include "compress/xz_decoder.h"
#include "fuzz_input.h"

using namespace stackshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const uint8_t cap[3] = {in.take<uint8_t>(), in.take<uint8_t>(), in.take<uint8_t>()};
  size_t max_output = cap[0] | (cap[1] << 8) | (size_t{cap[2]} << 16);
  if (max_output == 0) max_output = size_t{16} << 20;
  size_t got = 0;
  const uint8_t* stream = in.rest(&got);
  const XzResult r = xz_decompress(stream, got, max_output);
  if (r.ok) {
    FUZZ_CHECK(r.data.size() <= max_output);
    FUZZ_CHECK(r.code.empty());
  } else {
    FUZZ_CHECK(!r.code.empty() && !r.message.empty());
  }
  return 0;
}
