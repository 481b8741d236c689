// Rust's v0 mangling (RFC 2603): `_R` <path> [<instantiating crate>] [.<vendor suffix>].
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace stackshot {

// nullopt when `name` is not a well-formed v0 name, or one too costly to print (see rust_v0.cc).
// verbose: with crate disambiguators and constant types, as c++filt prints them.
std::optional<std::string> demangle_rust_v0(std::string_view name, bool verbose);

}  // namespace stackshot
