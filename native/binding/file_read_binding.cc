// readFileRange(fd, offset, length): a file's bytes in memory the kernel may back with huge
// pages. A first snapshot of node reads 17 MB of symbol tables; into fresh 4 KiB pages most of
// the time went to page faults (10 MB: 5.5 ms, 2.5 ms with huge pages). For large reads only
// (src/elf/elf-file.ts): a huge page is 2 MiB of memory.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "binding/convert.h"
#include "binding/exports.h"
#include "binding/mapped_buffer.h"

namespace stackshot {

namespace {
constexpr size_t kHugePage = size_t{2} << 20;

struct Region {
  void* base;
  size_t size;
};

// Anonymous memory of at least `length` bytes starting on a huge page boundary, advised to use
// huge pages; {nullptr, 0} when the kernel refuses.
Region huge_region(size_t length, uint8_t** start) {
  const size_t rounded = (length + kHugePage - 1) / kHugePage * kHugePage;
  const size_t size = rounded + kHugePage;  // room to align the start
  void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return {nullptr, 0};
  const uintptr_t aligned = (reinterpret_cast<uintptr_t>(base) + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  *start = reinterpret_cast<uint8_t*>(aligned);
  madvise(*start, rounded, MADV_HUGEPAGE);  // advice only: without THP, 4 KiB pages as before
  return {base, size};
}
}  // namespace

Napi::Value ReadFileRange(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "readFileRange(fd, offset, length)").ThrowAsJavaScriptException();
    return env.Null();
  }
  const int fd = info[0].As<Napi::Number>().Int32Value();
  const double offset = info[1].As<Napi::Number>().DoubleValue();
  const double length = info[2].As<Napi::Number>().DoubleValue();
  // Checked against the file's size by the caller (FdSource): here only against nonsense.
  if (!(offset >= 0) || !(length > 0) || offset > 9007199254740991.0 || length > 9007199254740991.0) {
    Napi::RangeError::New(env, "readFileRange: offset or length out of range").ThrowAsJavaScriptException();
    return env.Null();
  }
  const size_t len = static_cast<size_t>(length);
  uint8_t* start = nullptr;
  Region region = huge_region(len, &start);
  if (region.base == nullptr) {
    Napi::Error::New(env, "readFileRange: out of memory").ThrowAsJavaScriptException();
    return env.Null();
  }
  size_t done = 0;
  while (done < len) {
    const ssize_t n = pread(fd, start + done, len - done, static_cast<off_t>(offset) + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  // The bytes read (fewer at the file's end or on an error: the caller checks the length).
  return buffer_over_mapping(env, region.base, region.size, start, done);
}

}  // namespace stackshot
