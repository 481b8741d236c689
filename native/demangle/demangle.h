// Demangling of symbol names: the one entry the binding uses, whatever the scheme.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace stackshot {

// How much of a Rust name to print. Short is what perf, gdb, `nm -C` and py-spy show
// (`core::fmt::write`, `f::<5>`); verbose is GNU c++filt's default, with the legacy hash
// (`::h0123…`), v0 crate disambiguators (`core[1cc0d3…]`) and constant types (`5: usize`).
// C++ names print the same either way.
enum class DemangleStyle { kShort, kVerbose };

// The readable form of a mangled symbol name (Rust legacy, Rust v0 or Itanium C++); nullopt
// when no scheme accepts the name, so the caller keeps the raw name. Never throws on any
// input, and takes bounded time and memory.
std::optional<std::string> demangle(std::string_view name, DemangleStyle style = DemangleStyle::kShort);

}  // namespace stackshot
