// Itanium C++ demangling with abi::__cxa_demangle: the runtime already carries a complete,
// maintained demangler (the same libiberty code c++filt uses).
#include "demangle/itanium.h"

#include <cxxabi.h>

#include <cstdlib>

namespace stackshot {

std::optional<std::string> demangle_itanium(std::string_view name) {
  const std::string z(name);  // __cxa_demangle reads a NUL-terminated string
  int status = 0;
  char* out = abi::__cxa_demangle(z.c_str(), nullptr, nullptr, &status);
  std::optional<std::string> result;
  if (status == 0 && out != nullptr) result.emplace(out);
  free(out);
  return result;
}

}  // namespace stackshot
