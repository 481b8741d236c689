// Rust's legacy mangling: an Itanium-shaped `_ZN` path whose last component is the hash
// `17h<16 hex digits>`, with `$…$` escapes inside the components.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace stackshot {

// nullopt when `name` is not a legacy Rust name (then it may still be an Itanium C++ name).
// verbose: with the hash component, as c++filt prints it (perf and gdb drop it).
std::optional<std::string> demangle_rust_legacy(std::string_view name, bool verbose);

}  // namespace stackshot
