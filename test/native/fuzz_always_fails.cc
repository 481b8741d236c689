// A fuzz target with a finding on purpose (any input starting with 'B'): proves that the plain
// replay driver (test/fuzz/standalone_main.cc) fails when a target does (test/fuzz-regressions).
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FUZZ_CHECK(size == 0 || data[0] != 'B');
  return 0;
}
