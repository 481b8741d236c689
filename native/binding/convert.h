// Small conversions shared by the bindings.
#pragma once
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "arch/registers.h"

namespace stackshot {

// Property names made once per conversion. A Get or Set by `const char*` makes the name (an
// internalized string: a string-table lookup) again on every call, which cost more than the
// access itself when each of many objects gets or sets a dozen fields. Names are the callers'
// string literals, told apart by address.
class PropertyNames {
 public:
  explicit PropertyNames(Napi::Env env) : env_(env) {}
  Napi::String operator()(const char* name) {
    for (const auto& [literal, made] : names_) {
      if (literal == name) return made;
    }
    return names_.emplace_back(name, Napi::String::New(env_, name)).second;
  }

 private:
  Napi::Env env_;
  std::vector<std::pair<const char*, Napi::String>> names_;
};

inline std::string errno_name(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : "E" + std::to_string(err);
}

template <typename Key>
inline int64_t number_option(const Napi::Object& o, const Key& key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

/** A Uint8Array / Buffer value's bytes, not copied (empty when absent or of another type). */
inline std::pair<const uint8_t*, size_t> bytes_of(const Napi::Value& v) {
  if (!v.IsTypedArray()) return {nullptr, 0};
  Napi::Uint8Array a = v.As<Napi::Uint8Array>();
  if (a.TypedArrayType() != napi_uint8_array) return {nullptr, 0};
  return {a.Data(), a.ByteLength()};
}

template <typename Key>
inline uint64_t bigint_option(const Napi::Object& o, const Key& key) {
  Napi::Value v = o.Get(key);
  if (!v.IsBigInt()) return 0;
  bool lossless = true;
  return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

/** pc, sp, fp, lr as BigInts and every raw register word (the RawThreadCapture fields). */
inline void set_registers(Napi::Env env, PropertyNames& k, Napi::Object& o, const RegisterSet& regs) {
  o.Set(k("pc"), Napi::BigInt::New(env, regs.pc));
  o.Set(k("sp"), Napi::BigInt::New(env, regs.sp));
  o.Set(k("fp"), Napi::BigInt::New(env, regs.fp));
  o.Set(k("lr"), Napi::BigInt::New(env, regs.lr));
  if (regs.pac_mask != 0) o.Set(k("pacMask"), Napi::BigInt::New(env, regs.pac_mask));
  auto raw = Napi::TypedArrayOf<uint64_t>::New(env, regs.raw_count);
  if (regs.raw_count > 0) std::memcpy(raw.Data(), regs.raw, regs.raw_count * sizeof(uint64_t));
  o.Set(k("regs"), raw);
}

}  // namespace stackshot
