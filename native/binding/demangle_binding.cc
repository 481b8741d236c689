// demangle(name): the readable form of a mangled symbol name (demangle/demangle.h), or null.
#include "binding/exports.h"
#include "demangle/demangle.h"

namespace stackshot {

Napi::Value Demangle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "demangle(name: string)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const std::optional<std::string> out = demangle(info[0].As<Napi::String>().Utf8Value());
  return out ? Napi::String::New(env, *out) : env.Null();
}

}  // namespace stackshot
