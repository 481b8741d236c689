// RFC 3492 decoding with the RFC's parameters. The arithmetic wraps exactly as libiberty's
// (64-bit deltas, a 32-bit code point), so any name c++filt decodes into valid UTF-8 decodes
// to the same text here.
#include "demangle/punycode.h"

#include <cstdint>
#include <vector>

namespace stackshot {

namespace {

constexpr uint64_t kBase = 36;
constexpr uint64_t kTMin = 1;
constexpr uint64_t kTMax = 26;
constexpr uint64_t kSkew = 38;
constexpr uint64_t kInitialBias = 72;
constexpr uint64_t kInitialDamp = 700;
constexpr uint32_t kInitialChar = 0x80;
constexpr uint64_t kAscii = uint64_t{1} << 32;

// Appends inserted code point c as c++filt writes it: UTF-8 for a scalar value, and for the
// other values (a wrapped-around number in a corrupt name) the same bytes c++filt writes.
void append_as_cxxfilt(uint32_t c, std::string* out) {
  const uint8_t bytes[4] = {
      static_cast<uint8_t>(c >= 0x10000 ? 0xf0 | (c >> 18) : 0),
      static_cast<uint8_t>(c >= 0x800 ? (c < 0x10000 ? 0xe0 : 0x80) | ((c >> 12) & 0x3f) : 0),
      static_cast<uint8_t>((c < 0x800 ? 0xc0 : 0x80) | ((c >> 6) & 0x3f)),
      static_cast<uint8_t>(0x80 | (c & 0x3f)),
  };
  for (uint8_t b : bytes) {
    if (b != 0) out->push_back(static_cast<char>(b));
  }
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t b = static_cast<uint8_t>(s[i]);
    size_t n;
    uint32_t cp;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      n = 1;
      cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= n) return false;
    for (size_t j = 1; j <= n; j++) {
      const uint8_t cb = static_cast<uint8_t>(s[i + j]);
      if ((cb & 0xc0) != 0x80) return false;
      cp = cp << 6 | (cb & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

PunycodeResult decode_punycode(std::string_view ascii, std::string_view codes, size_t max_chars, std::string* utf8) {
  utf8->clear();
  // The identifier's characters in order: its ASCII ones tagged with kAscii, inserted code
  // points as they are.
  std::vector<uint64_t> chars;
  chars.reserve(ascii.size());
  for (char ch : ascii) chars.push_back(kAscii | static_cast<uint8_t>(ch));
  // Whether there were more than max_chars characters. Decoding goes on regardless, without
  // inserting: c++filt prints nothing for codes that turn out to be truncated, and that must
  // still be found out.
  bool too_long = ascii.size() > max_chars;
  uint64_t count = ascii.size();
  uint64_t bias = kInitialBias;
  uint64_t damp = kInitialDamp;
  uint64_t i = 0;
  uint32_t c = kInitialChar;
  size_t pos = 0;
  while (pos < codes.size()) {
    // One variable-length number: the distance to the next insertion.
    uint64_t delta = 0;
    uint64_t w = 1;
    uint64_t k = 0;
    uint64_t digit;
    uint64_t t;
    do {
      k += kBase;
      t = k < bias ? 0 : k - bias;
      if (t < kTMin) t = kTMin;
      if (t > kTMax) t = kTMax;
      if (pos >= codes.size()) return PunycodeResult::kTruncated;
      const char d = codes[pos++];
      if (d >= 'a' && d <= 'z') {
        digit = static_cast<uint64_t>(d - 'a');
      } else if (d >= '0' && d <= '9') {
        digit = 26 + static_cast<uint64_t>(d - '0');
      } else {
        return PunycodeResult::kInvalid;
      }
      delta += digit * w;
      w *= kBase - t;
    } while (digit >= t);

    const uint64_t len = ++count;
    i += delta;
    c = static_cast<uint32_t>(c + i / len);
    i %= len;
    if (len > max_chars) too_long = true;
    if (!too_long) chars.insert(chars.begin() + static_cast<std::ptrdiff_t>(i), c);
    if (pos == codes.size()) break;
    i++;

    // Bias adaptation (RFC 3492 section 6.1).
    delta /= damp;
    damp = 2;
    delta += delta / len;
    k = 0;
    while (delta > ((kBase - kTMin) * kTMax) / 2) {
      delta /= kBase - kTMin;
      k += kBase;
    }
    bias = k + ((kBase - kTMin + 1) * delta) / (delta + kSkew);
  }
  if (too_long) return PunycodeResult::kInvalid;
  for (uint64_t ch : chars) {
    if (ch & kAscii) {
      utf8->push_back(static_cast<char>(ch & 0xff));
    } else {
      append_as_cxxfilt(static_cast<uint32_t>(ch), utf8);
    }
  }
  return is_valid_utf8(*utf8) ? PunycodeResult::kOk : PunycodeResult::kInvalid;
}

}  // namespace stackshot
