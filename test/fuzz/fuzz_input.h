// Splits a fuzzer's byte string into the typed fields a target needs. Reads past the end
// yield zeros and empty spans, so every input, however short, is a valid (if dull) case.
// (clang's FuzzedDataProvider would do, but the plain regression driver builds with g++.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace stackshot::fuzz {

class FuzzInput {
 public:
  FuzzInput(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  template <typename T>
  T take() {
    T v{};
    const size_t n = sizeof(T) < left() ? sizeof(T) : left();
    if (n > 0) std::memcpy(&v, data_ + pos_, n);
    pos_ += n;
    return v;
  }
  // Up to n bytes (fewer at the end of the input).
  const uint8_t* take_bytes(size_t n, size_t* got) {
    *got = n < left() ? n : left();
    const uint8_t* p = data_ + pos_;
    pos_ += *got;
    return p;
  }
  const uint8_t* rest(size_t* got) { return take_bytes(left(), got); }
  size_t left() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Fails the run (a finding) when an invariant of a parser's output does not hold: the
// sanitizers catch memory errors, these catch answers that cannot be right.
#define FUZZ_CHECK(cond)                                                                  \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "FUZZ_CHECK failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

}  // namespace stackshot::fuzz
