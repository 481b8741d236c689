// parsePerfMapLines() and perfMapSegments(): the native halves of src/symbolize/perf-map.ts
// (see symbols/perf_map.h).
#include <algorithm>
#include <cstring>

#include "binding/convert.h"
#include "binding/exports.h"
#include "symbols/perf_map.h"

namespace stackshot {
namespace {

template <typename Array, typename T>
Array typed(Napi::Env env, const std::vector<T>& values) {
  Array out = Array::New(env, values.size());
  if (!values.empty()) std::memcpy(out.Data(), values.data(), values.size() * sizeof(T));
  return out;
}

}  // namespace

// parsePerfMapLines(bytes, skipFirst, maxLine, maxName)
Napi::Value ParsePerfMapLines(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4 || !info[0].IsTypedArray() || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "parsePerfMapLines(bytes, skipFirst, maxLine, maxName)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto [data, size] = bytes_of(info[0]);
  const double max_line = info[2].As<Napi::Number>().DoubleValue();
  const double max_name = info[3].As<Napi::Number>().DoubleValue();
  const PerfMapLines lines =
      parse_perf_map_lines(data, size, info[1].ToBoolean().Value(), max_line > 0 ? static_cast<size_t>(max_line) : 0,
                           max_name > 0 ? static_cast<size_t>(max_name) : 0);
  Napi::Object out = Napi::Object::New(env);
  out.Set("start", typed<Napi::Float64Array>(env, lines.start));
  out.Set("end", typed<Napi::Float64Array>(env, lines.end));
  out.Set("nameAt", typed<Napi::Uint32Array>(env, lines.name_at));
  out.Set("nameLen", typed<Napi::Uint16Array>(env, lines.name_len));
  out.Set("names", Napi::Buffer<uint8_t>::Copy(env, lines.names.data(), lines.names.size()));
  out.Set("consumed", Napi::Number::New(env, static_cast<double>(lines.consumed)));
  return out;
}

// perfMapSegments(start, end, from, to)
Napi::Value PerfMapSegments(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto is_f64 = [](const Napi::Value& v) {
    return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array;
  };
  if (info.Length() < 4 || !is_f64(info[0]) || !is_f64(info[1]) || !info[2].IsNumber() || !info[3].IsNumber()) {
    Napi::TypeError::New(env, "perfMapSegments(start, end, from, to)").ThrowAsJavaScriptException();
    return env.Null();
  }
  auto start = info[0].As<Napi::Float64Array>();
  auto end = info[1].As<Napi::Float64Array>();
  const double n = static_cast<double>(std::min(start.ElementLength(), end.ElementLength()));
  const double from = info[2].As<Napi::Number>().DoubleValue();
  const double to = info[3].As<Napi::Number>().DoubleValue();
  if (!(from >= 0 && from <= to && to <= n)) {
    Napi::RangeError::New(env, "perfMapSegments: from/to outside the arrays").ThrowAsJavaScriptException();
    return env.Null();
  }
  const OwnedSegments segs =
      perf_map_segments(start.Data(), end.Data(), static_cast<uint32_t>(from), static_cast<uint32_t>(to));
  Napi::Object out = Napi::Object::New(env);
  out.Set("start", typed<Napi::Float64Array>(env, segs.start));
  out.Set("end", typed<Napi::Float64Array>(env, segs.end));
  out.Set("owner", typed<Napi::Uint32Array>(env, segs.owner));
  return out;
}

}  // namespace stackshot
