// demangle(name, verbose?): the readable form of a mangled symbol name (demangle/demangle.h), or null.
#include "binding/exports.h"
#include "demangle/demangle.h"

namespace stackshot {

Napi::Value Demangle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "demangle(name: string)").ThrowAsJavaScriptException();
    return env.Null();
  }
  // demangle(name, verbose?): verbose prints Rust names as c++filt does (see demangle.h).
  const bool verbose = info.Length() > 1 && info[1].ToBoolean().Value();
  const std::optional<std::string> out =
      demangle(info[0].As<Napi::String>().Utf8Value(), verbose ? DemangleStyle::kVerbose : DemangleStyle::kShort);
  return out ? Napi::String::New(env, *out) : env.Null();
}

}  // namespace stackshot
