// Which scheme reads a name. The order is c++filt's: a legacy Rust name is also a valid
// Itanium name, and the Rust reading (unescaped, e.g. `<T as Trait>`) must win.
#include "demangle/demangle.h"

#include "demangle/itanium.h"
#include "demangle/rust_legacy.h"
#include "demangle/rust_v0.h"

namespace stackshot {

std::optional<std::string> demangle(std::string_view name, DemangleStyle style) {
  const bool verbose = style == DemangleStyle::kVerbose;
  if (std::optional<std::string> rust = demangle_rust_legacy(name, verbose)) return rust;
  if (name.substr(0, 2) == "_R") return demangle_rust_v0(name, verbose);
  // Only `_Z` names: __cxa_demangle also reads bare types ("i" is "int"), which a symbol
  // name never is.
  if (name.substr(0, 2) == "_Z") return demangle_itanium(name);
  return std::nullopt;
}

}  // namespace stackshot
