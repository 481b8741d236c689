// Demangling of symbol names: the one entry the binding uses, whatever the scheme.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace stackshot {

// The readable form of a mangled symbol name (Rust legacy, Rust v0 or Itanium C++), printed
// the way GNU c++filt prints it; nullopt when no scheme accepts the name, so the caller keeps
// the raw name. Never throws on any input, and takes bounded time and memory.
std::optional<std::string> demangle(std::string_view name);

}  // namespace stackshot
