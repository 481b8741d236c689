// Punycode as Rust v0 identifiers carry it: the ASCII part and the insertion codes, with a
// character limit.
//
// Input: u8 limit, then the ASCII part up to the first '_', then the codes.
#include <string>
#include <string_view>

#include "demangle/punycode.h"
#include "fuzz_input.h"

using namespace stackshot;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::FuzzInput in(data, size);
  const size_t max_chars = in.take<uint8_t>();
  size_t got = 0;
  const char* text = reinterpret_cast<const char*>(in.rest(&got));
  std::string_view all(text, got);
  const size_t split = all.find('_');
  const std::string_view ascii = split == std::string_view::npos ? std::string_view() : all.substr(0, split);
  const std::string_view codes = split == std::string_view::npos ? all : all.substr(split + 1);
  std::string utf8 = "stale";
  const PunycodeResult r = decode_punycode(ascii, codes, max_chars, &utf8);
  if (r == PunycodeResult::kOk) {
    // At most max_chars code points of at most 4 UTF-8 bytes each.
    FUZZ_CHECK(utf8.size() <= 4 * max_chars);
  }
  return 0;
}
