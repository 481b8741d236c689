// JavaScript <-> native for openMemory(): bounded reads of a live target's memory, made after its
// threads run again (runtime metadata: V8 heap objects, CPython frames). Never a write.
//
// A handle reads through /proc/<pid>/mem and checks /proc/<pid>/pagemap first, both opened when
// the handle is: they stay bound to the process they were opened on (a pid reused meanwhile
// reads nothing), and a page that is not in memory is never read. Reading one would make the
// kernel fault it in for us: populate the target's memory, or -- where the target registered it
// with userfaultfd -- wait for its fault handler, for ever if it never serves the fault.
#include <memory>
#include <vector>

#include "binding/exports.h"
#include "capture/stack_reader.h"

namespace stackshot {

namespace {

// One read is a heap object or a frame record, never a bulk copy.
constexpr size_t kMaxRead = 1 << 20;

struct MemoryHandle {
  std::unique_ptr<StackReader> reader;
};

// read(address: bigint, length): the bytes from address on, cut at the first page that is not
// in memory or cannot be read (empty when the first one is; empty once closed).
Napi::Value Read(const Napi::CallbackInfo& info, MemoryHandle& h) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsBigInt() || !info[1].IsNumber()) {
    Napi::TypeError::New(env, "read(address: bigint, length: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  bool lossless = true;
  const uint64_t addr = info[0].As<Napi::BigInt>().Uint64Value(&lossless);
  const double asked = info[1].As<Napi::Number>().DoubleValue();
  if (!lossless || !(asked >= 0) || asked > kMaxRead || addr + static_cast<uint64_t>(asked) < addr) {
    Napi::RangeError::New(env, "read: address or length out of range").ThrowAsJavaScriptException();
    return env.Null();
  }
  const size_t len = static_cast<size_t>(asked);
  if (!h.reader || len == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  std::vector<uint8_t> out(len);
  const size_t usable = h.reader->read_in_memory(addr, out.data(), len);
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), usable);
}

}  // namespace

// openMemory(pid): { read(address, length), close() } (see above).
Napi::Value OpenMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(env, "openMemory(pid: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  auto handle = std::make_shared<MemoryHandle>();
  handle->reader = std::make_unique<StackReader>(pid, true, kMaxRead, StackReader::Opening::kUpFront);
  Napi::Object o = Napi::Object::New(env);
  o.Set("read", Napi::Function::New(
                    env, [handle](const Napi::CallbackInfo& i) { return Read(i, *handle); }, "read"));
  o.Set("close", Napi::Function::New(
                     env,
                     [handle](const Napi::CallbackInfo& i) -> Napi::Value {
                       handle->reader.reset();
                       return i.Env().Undefined();
                     },
                     "close"));
  return o;
}

}  // namespace stackshot
