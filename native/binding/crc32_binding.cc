// crc32(data): zlib's CRC-32 of the bytes, the module cache's checksum (src/cache/checksum.ts).
// node:zlib has the same function, but loading it costs a cold CLI 1.3 ms (it brings node:stream
// along), and the addon is loaded anyway. Computed by the zlib node carries (node exports its
// symbols for addons), found at run time; a table-driven CRC-32 where it cannot be found.
#include <dlfcn.h>

#include <array>
#include <cstdint>

#include "binding/exports.h"

namespace stackshot {

namespace {

using Crc32Z = unsigned long (*)(unsigned long crc, const unsigned char* buf, size_t len);

std::array<uint32_t, 256> make_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xedb88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t table_crc32(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = make_table();
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

uint32_t crc32_of(const uint8_t* p, size_t n) {
  static const auto zlib = reinterpret_cast<Crc32Z>(dlsym(RTLD_DEFAULT, "crc32_z"));
  return zlib != nullptr ? static_cast<uint32_t>(zlib(0, p, n)) : table_crc32(p, n);
}

}  // namespace

Napi::Value Crc32(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray()) {
    Napi::TypeError::New(env, "crc32(data: Uint8Array)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::TypedArray a = info[0].As<Napi::TypedArray>();
  const auto* bytes = static_cast<const uint8_t*>(a.ArrayBuffer().Data()) + a.ByteOffset();
  return Napi::Number::New(env, crc32_of(bytes, a.ByteLength()));
}

}  // namespace stackshot
