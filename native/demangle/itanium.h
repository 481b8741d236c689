// Itanium C++ ABI names (`_Z…`), through the C++ runtime's own demangler.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace stackshot {

// nullopt when `name` is not a mangled Itanium name.
std::optional<std::string> demangle_itanium(std::string_view name);

}  // namespace stackshot
