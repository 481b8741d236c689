// xzDecompress(buf[, maxOutput]): the whole .xz stream in buf, decompressed into a new Buffer.
#include <limits>

#include "binding/exports.h"
#include "compress/xz_decoder.h"

namespace stackshot {

Napi::Value XzDecompress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer() ||
      (info.Length() > 1 && !info[1].IsUndefined() && !info[1].IsNumber())) {
    Napi::TypeError::New(env, "xzDecompress(buf: Buffer, maxOutput?: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  size_t max_output = kXzDefaultMaxOutput;
  if (info.Length() > 1 && info[1].IsNumber()) {
    double m = info[1].As<Napi::Number>().DoubleValue();
    if (!(m >= 1 && m <= static_cast<double>(std::numeric_limits<uint32_t>::max()))) {
      Napi::RangeError::New(env, "xzDecompress: maxOutput must be between 1 and 2^32 - 1").ThrowAsJavaScriptException();
      return env.Null();
    }
    max_output = static_cast<size_t>(m);
  }
  Napi::Buffer<uint8_t> in = info[0].As<Napi::Buffer<uint8_t>>();
  XzResult r = xz_decompress(in.Data(), in.Length(), max_output);
  if (!r.ok) {
    Napi::Error err = Napi::Error::New(env, "xz: " + r.message);
    err.Set("code", r.code);
    err.ThrowAsJavaScriptException();
    return env.Null();
  }
  return Napi::Buffer<uint8_t>::Copy(env, r.data.data(), r.data.size());
}

}  // namespace stackshot
