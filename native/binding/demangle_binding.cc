// C++ (Itanium ABI) demangling with the C++ runtime's own demangler.
#include <cxxabi.h>

#include <cstdlib>

#include "binding/exports.h"

namespace stackshot {

Napi::Value Demangle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "demangle(name: string)").ThrowAsJavaScriptException();
    return env.Null();
  }
  std::string name = info[0].As<Napi::String>().Utf8Value();
  int status = 0;
  char* out = abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status);
  if (status != 0 || out == nullptr) {
    free(out);
    return env.Null();
  }
  Napi::String result = Napi::String::New(env, out);
  free(out);
  return result;
}

}  // namespace stackshot
