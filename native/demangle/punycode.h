// Punycode (RFC 3492) as Rust v0 uses it for non-ASCII identifiers: `u<len>` identifiers hold
// the identifier's ASCII characters, then `_`, then the insertion codes of the others.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace stackshot {

enum class PunycodeResult {
  kOk,
  // The codes end in the middle of a number: c++filt prints nothing for such an identifier
  // and goes on, so callers treat it as an empty identifier, not as an error.
  kTruncated,
  // A character that is no base-36 digit (c++filt fails too), code points that c++filt
  // would print as invalid UTF-8, or more than `max_chars` characters.
  kInvalid,
};

// Decodes into `utf8` (replacing its content). `codes` are the insertion codes, `ascii` the
// basic characters they insert into.
PunycodeResult decode_punycode(std::string_view ascii, std::string_view codes, size_t max_chars, std::string* utf8);

}  // namespace stackshot
