// Symbol names, as the target's symbol tables and perf maps spell them: through the one
// entry point the addon uses (both styles), and through the Rust schemes directly, which
// demangle() reaches only for names that look like theirs.
//
// Input: the name (any bytes, NULs included: a string_view carries them).
#include <string_view>

#include "demangle/demangle.h"
#include "demangle/rust_legacy.h"
#include "demangle/rust_v0.h"
#include "fuzz_input.h"

using namespace stackshot;

namespace {

// Output bounds the demanglers promise (rust_v0.cc caps output at 256 KiB; c++filt's output
// for an n-byte name can be larger, but not unboundedly).
void check(const std::optional<std::string>& out) {
  if (out) FUZZ_CHECK(out->size() <= (size_t{1} << 20));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;  // longer than any real symbol; the bounds are tested elsewhere
  const std::string_view name(reinterpret_cast<const char*>(data), size);
  check(demangle(name, DemangleStyle::kShort));
  check(demangle(name, DemangleStyle::kVerbose));
  for (bool verbose : {false, true}) {
    check(demangle_rust_legacy(name, verbose));
    check(demangle_rust_v0(name, verbose));
  }
  return 0;
}
