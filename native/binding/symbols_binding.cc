// buildSymbolIndex(sections): the merged, address-sorted function-symbol index of a module as
// typed-array columns (see symbols/symbol_index.h and src/elf/symbols.ts); symbolsWithPrefix:
// the entries of one table whose names start with given prefixes (symbols/prefixed_symbols.h).
#include "binding/convert.h"
#include "binding/exports.h"
#include "symbols/prefixed_symbols.h"
#include "symbols/symbol_index.h"

namespace stackshot {
namespace {

template <typename Array, typename T>
Array column(Napi::Env env, const std::vector<T>& values) {
  Array out = Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out[i] = values[i];
  return out;
}

}  // namespace

Napi::Value BuildSymbolIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "buildSymbolIndex(sections)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Array in = info[0].As<Napi::Array>();
  // The views point into JS buffers, which stay alive (referenced by `in`) for this call.
  std::vector<SymbolSection> sections;
  for (uint32_t i = 0; i < in.Length(); i++) {
    Napi::Value item = in.Get(i);
    if (!item.IsObject()) continue;
    Napi::Object o = item.As<Napi::Object>();
    auto [syms, syms_len] = bytes_of(o.Get("syms"));
    auto [strs, strs_len] = bytes_of(o.Get("strs"));
    auto [exec, exec_len] = bytes_of(o.Get("exec"));
    sections.push_back({syms, syms_len, strs, strs_len, exec, exec_len});
  }
  SymbolIndex idx = build_symbol_index(sections);

  // Starts as two 32-bit halves: the JS lookup compares plain Numbers, exact for 64 bits.
  size_t n = idx.start.size();
  Napi::Uint32Array hi = Napi::Uint32Array::New(env, n);
  Napi::Uint32Array lo = Napi::Uint32Array::New(env, n);
  Napi::Float64Array size = Napi::Float64Array::New(env, n);
  for (size_t k = 0; k < n; k++) {
    hi[k] = static_cast<uint32_t>(idx.start[k] >> 32);
    lo[k] = static_cast<uint32_t>(idx.start[k]);
    size[k] = static_cast<double>(idx.size[k]);  // < 2^53: exact
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("hi", hi);
  out.Set("lo", lo);
  out.Set("size", size);
  out.Set("nameOff", column<Napi::Uint32Array>(env, idx.name_offset));
  out.Set("table", column<Napi::Uint16Array>(env, idx.section));
  out.Set("parent", column<Napi::Int32Array>(env, idx.parent));
  return out;
}

// checkSymbolIndex(index, strtabLengths): symbol_index_valid over the index's columns. In JS
// this loop ran interpreted in a fresh process (~4 ms over node's index on every cached run).
Napi::Value CheckSymbolIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsArray()) {
    Napi::TypeError::New(env, "checkSymbolIndex(index, strtabLengths)").ThrowAsJavaScriptException();
    return env.Null();
  }
  Napi::Object idx = info[0].As<Napi::Object>();
  const Napi::Value off = idx.Get("nameOff");
  const Napi::Value table = idx.Get("table");
  const Napi::Value parent = idx.Get("parent");
  auto is = [](const Napi::Value& v, napi_typedarray_type type) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
  };
  if (!is(off, napi_uint32_array) || !is(table, napi_uint16_array) || !is(parent, napi_int32_array))
    return Napi::Boolean::New(env, false);
  auto o = off.As<Napi::Uint32Array>();
  auto t = table.As<Napi::Uint16Array>();
  auto p = parent.As<Napi::Int32Array>();
  const size_t n = o.ElementLength();
  if (t.ElementLength() != n || p.ElementLength() != n) return Napi::Boolean::New(env, false);
  Napi::Array lens = info[1].As<Napi::Array>();
  std::vector<uint64_t> strs_lens;
  for (uint32_t i = 0; i < lens.Length(); i++) {
    Napi::Value v = lens.Get(i);
    if (!v.IsNumber()) return Napi::Boolean::New(env, false);
    const double d = v.As<Napi::Number>().DoubleValue();
    strs_lens.push_back(d > 0 ? static_cast<uint64_t>(d) : 0);
  }
  return Napi::Boolean::New(env, symbol_index_valid(n, o.Data(), t.Data(), p.Data(), strs_lens));
}

// symbolsWithPrefix(syms, strs, prefixes): { nameOff, value, size } columns of the entries of one
// symbol table whose names start with one of the prefixes.
Napi::Value SymbolsWithPrefix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[2].IsArray()) {
    Napi::TypeError::New(env, "symbolsWithPrefix(syms, strs, prefixes)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto [syms, syms_len] = bytes_of(info[0]);
  auto [strs, strs_len] = bytes_of(info[1]);
  std::vector<std::string> prefixes;
  Napi::Array in = info[2].As<Napi::Array>();
  for (uint32_t i = 0; i < in.Length(); i++) {
    Napi::Value p = in.Get(i);
    if (p.IsString()) prefixes.push_back(p.As<Napi::String>().Utf8Value());
  }
  const std::vector<PrefixedSymbol> found = symbols_with_prefix({syms, syms_len, strs, strs_len, nullptr, 0}, prefixes);
  Napi::Uint32Array name_off = Napi::Uint32Array::New(env, found.size());
  Napi::BigUint64Array value = Napi::BigUint64Array::New(env, found.size());
  Napi::BigUint64Array size = Napi::BigUint64Array::New(env, found.size());
  for (size_t k = 0; k < found.size(); k++) {
    name_off[k] = found[k].name_offset;
    value[k] = found[k].value;
    size[k] = found[k].size;
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("nameOff", name_off);
  out.Set("value", value);
  out.Set("size", size);
  return out;
}

}  // namespace stackshot
