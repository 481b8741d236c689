// isatty(fd): whether fd is a terminal. Node answers it in node:tty, which loads node:net and
// node:stream first: 3 ms of a cold CLI that only asks whether to print colors.
#include <unistd.h>

#include "binding/exports.h"

namespace stackshot {

Napi::Value IsATty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "isatty(fd: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  return Napi::Boolean::New(env, isatty(info[0].As<Napi::Number>().Int32Value()) == 1);
}

}  // namespace stackshot
