// JavaScript <-> native for readMemory(): a bounded read of a live target's memory, made after
// its threads run again (runtime metadata: V8 heap objects, CPython frames). Never a write.
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <vector>

#include "binding/convert.h"
#include "binding/exports.h"

namespace stackshot {

namespace {
constexpr uint64_t kPage = 4096;
// One read is a heap object or a frame record, never a bulk copy.
constexpr size_t kMaxRead = 1 << 20;
}  // namespace

// readMemory(pid, address: bigint, length): Buffer of the bytes readable from address on (cut
// at the first unreadable page; empty when none is readable).
Napi::Value ReadMemory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBigInt() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "readMemory(pid: number, address: bigint, length: number)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const pid_t pid = info[0].As<Napi::Number>().Int32Value();
  bool lossless = true;
  const uint64_t addr = info[1].As<Napi::BigInt>().Uint64Value(&lossless);
  const double asked = info[2].As<Napi::Number>().DoubleValue();
  if (!lossless || !(asked >= 0) || asked > kMaxRead || addr + static_cast<uint64_t>(asked) < addr) {
    Napi::RangeError::New(env, "readMemory: address or length out of range").ThrowAsJavaScriptException();
    return env.Null();
  }
  const size_t len = static_cast<size_t>(asked);
  std::vector<uint8_t> out(len);
  // Remote iovecs cut at page boundaries: a fault part-way returns what precedes it.
  std::vector<iovec> remote;
  for (uint64_t at = addr; at < addr + len;) {
    const uint64_t next = std::min<uint64_t>(addr + len, (at & ~(kPage - 1)) + kPage);
    remote.push_back(iovec{reinterpret_cast<void*>(at), static_cast<size_t>(next - at)});
    at = next;
  }
  iovec local{out.data(), len};
  ssize_t n = 0;
  if (len > 0) {
    do {
      n = process_vm_readv(pid, &local, 1, remote.data(), remote.size(), 0);
    } while (n == -1 && errno == EINTR);
  }
  if (n < 0) n = 0;
  return Napi::Buffer<uint8_t>::Copy(env, out.data(), static_cast<size_t>(n));
}

}  // namespace stackshot
