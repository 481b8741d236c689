// mapFile(fd, length): a file of stackshot's own module cache mapped into memory, not read: a
// cold CLI on a node process spent 3 ms reading, zero-filling and copying node's 2 MB symbol
// index, of which a snapshot looks at a few pages. Only for the cache's entries (src/cache/),
// files stackshot wrote and replaces by rename, never truncates: a mapped file cut short under
// it would end the process with SIGBUS on its next access. Never for the target's files.
#include <sys/mman.h>

#include <cstdint>

#include "binding/exports.h"
#include "binding/mapped_buffer.h"

namespace stackshot {

// The file's first `length` bytes (the caller's fstat size), or null when it cannot be mapped.
// Private and writable: a write through a view stays in our copy, never in the file or a fault.
Napi::Value MapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "mapFile(fd, length)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const double length = info[1].As<Napi::Number>().DoubleValue();
  if (!(length > 0) || length > 9007199254740991.0) {
    Napi::RangeError::New(env, "mapFile: length out of range").ThrowAsJavaScriptException();
    return env.Null();
  }
  const auto size = static_cast<size_t>(length);
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  if (base == MAP_FAILED) return env.Null();
  return buffer_over_mapping(env, base, size, static_cast<uint8_t*>(base), size);
}

}  // namespace stackshot
