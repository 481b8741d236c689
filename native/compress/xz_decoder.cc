// liblzma is reached through dlopen("liblzma.so.5") rather than linked: building the addon
// then needs no liblzma headers or -dev package, and a machine without the library only loses
// MiniDebugInfo (with a clear error) instead of failing to load the whole addon.
// Only lzma_stream_buffer_decode is used; its prototype and the constants below are liblzma's
// stable ABI (lzma/container.h and lzma/base.h of liblzma 5.x), declared here for that reason.
#include "compress/xz_decoder.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace stackshot {

namespace {

// lzma_ret values (lzma/base.h).
constexpr int LZMA_OK = 0;
constexpr int LZMA_BUF_ERROR = 10;
// Decoder flag (lzma/container.h): decode concatenated streams and stream padding, as `xz -d` does.
constexpr uint32_t LZMA_CONCATENATED = 0x08;

/** The decoder's memory cap: enough for `xz -9e` (64 MiB dictionary), far below what a
 *  hostile header may ask for (up to 4 GiB). */
constexpr uint64_t kMemLimit = uint64_t{128} << 20;

using StreamBufferDecode = int (*)(uint64_t* memlimit, uint32_t flags, const void* allocator, const uint8_t* in,
                                   size_t* in_pos, size_t in_size, uint8_t* out, size_t* out_pos, size_t out_size);

struct Liblzma {
  StreamBufferDecode decode = nullptr;
  std::string error;
};

const Liblzma& liblzma() {
  static Liblzma lib;
  static std::once_flag once;
  std::call_once(once, [] {
    // Never dlclose'd: it stays loaded for the life of the process, like a linked library.
    void* handle = dlopen("liblzma.so.5", RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* why = dlerror();
      lib.error = why != nullptr ? why : "dlopen failed";
      return;
    }
    lib.decode = reinterpret_cast<StreamBufferDecode>(dlsym(handle, "lzma_stream_buffer_decode"));
    if (lib.decode == nullptr) lib.error = "liblzma.so.5 has no lzma_stream_buffer_decode";
  });
  return lib;
}

/** lzma_ret's name (the error code JavaScript sees) and what it means for a stream. */
struct LzmaError {
  const char* code;
  const char* message;
};

LzmaError lzma_error(int ret) {
  static const LzmaError errors[] = {
      {"LZMA_OK", "success"},
      {"LZMA_STREAM_END", "end of stream"},
      {"LZMA_NO_CHECK", "no integrity check"},
      {"LZMA_UNSUPPORTED_CHECK", "unsupported integrity check"},
      {"LZMA_GET_CHECK", "integrity check type known"},
      {"LZMA_MEM_ERROR", "out of memory"},
      {"LZMA_MEMLIMIT_ERROR", "the stream needs more than the decoder's 128 MiB memory limit"},
      {"LZMA_FORMAT_ERROR", "not xz data"},
      {"LZMA_OPTIONS_ERROR", "unsupported xz options"},
      {"LZMA_DATA_ERROR", "corrupt or truncated xz data"},
      {"LZMA_BUF_ERROR", "output buffer too small"},
      {"LZMA_PROG_ERROR", "liblzma reported a programming error"},
  };
  if (ret >= 0 && ret < static_cast<int>(sizeof errors / sizeof errors[0])) return errors[ret];
  return {"LZMA_UNKNOWN_ERROR", "xz decoding failed"};
}

XzResult failure(std::string code, std::string message) {
  XzResult r;
  r.code = std::move(code);
  r.message = std::move(message);
  return r;
}

/** Reads an xz variable-length integer (at most 9 bytes, 63 bits) at p, advancing p. */
bool read_vli(const uint8_t*& p, const uint8_t* end, uint64_t& value) {
  value = 0;
  for (int i = 0; i < 9 && p < end; i++) {
    uint8_t b = *p++;
    value |= uint64_t{b & 0x7fu} << (7 * i);
    if ((b & 0x80) == 0) return b != 0 || i == 0;  // no redundant trailing zero bytes
  }
  return false;
}

uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t{p[3]} << 24); }

/**
 * The uncompressed size the data declares: the sum of the Uncompressed Size fields of every
 * stream's index, found by walking back from the end (xz file format 1.2: ... Block ... Index,
 * Stream Footer, then Stream Padding in 4-byte zero words). False when the layout cannot be
 * followed (truncated, not xz). Only sizes are read: liblzma verifies all of it while decoding,
 * including that each index matches its blocks, so a lying index fails the decode.
 */
bool declared_size(const uint8_t* in, size_t size, uint64_t& total) {
  static const uint8_t kHeaderMagic[6] = {0xfd, '7', 'z', 'X', 'Z', 0x00};
  static const uint8_t kFooterMagic[2] = {'Y', 'Z'};
  constexpr size_t kHeader = 12, kFooter = 12;
  total = 0;
  size_t pos = size;
  if (size == 0 || pos % 4 != 0) return false;
  while (pos > 0) {
    while (pos >= 4 && le32(in + pos - 4) == 0) pos -= 4;  // stream padding
    if (pos < kHeader + kFooter) return false;
    const uint8_t* footer = in + pos - kFooter;
    if (footer[10] != kFooterMagic[0] || footer[11] != kFooterMagic[1]) return false;
    uint64_t index_size = (uint64_t{le32(footer + 4)} + 1) * 4;
    if (index_size > pos - kFooter - kHeader) return false;
    const uint8_t* index = footer - index_size;
    const uint8_t* p = index;
    uint64_t records = 0;
    if (*p++ != 0x00 || !read_vli(p, footer, records)) return false;
    uint64_t blocks = 0;
    for (uint64_t r = 0; r < records; r++) {
      uint64_t unpadded = 0, uncompressed = 0;
      if (!read_vli(p, footer, unpadded) || !read_vli(p, footer, uncompressed)) return false;
      blocks += (unpadded + 3) & ~uint64_t{3};
      total += uncompressed;
      // Both stay below 2^63 per field; a sum past the input (blocks) or past 2^62 (total) is a lie.
      if (blocks > size || total > (uint64_t{1} << 62)) return false;
    }
    size_t before_index = static_cast<size_t>(index - in);
    if (blocks > before_index - kHeader) return false;
    pos = before_index - static_cast<size_t>(blocks) - kHeader;
    if (std::memcmp(in + pos, kHeaderMagic, sizeof kHeaderMagic) != 0) return false;
  }
  return true;
}

}  // namespace

XzResult xz_decompress(const uint8_t* in, size_t size, size_t max_output) {
  const Liblzma& lib = liblzma();
  if (lib.decode == nullptr) return failure("LIBLZMA_MISSING", "MiniDebugInfo needs liblzma.so.5: " + lib.error);
  if (max_output == 0) max_output = kXzDefaultMaxOutput;
  // lzma_stream_buffer_decode reports a truncated stream as LZMA_BUF_ERROR, the same as an
  // output buffer that is too small (it restores *in_pos before telling them apart), so the
  // output size cannot be found by growing a buffer. The stream states it in its index.
  uint64_t declared = 0;
  bool known = declared_size(in, size, declared);
  if (known && declared > max_output) {
    return failure("XZ_TOO_LARGE", "decompresses to " + std::to_string(declared) + " bytes, more than the " +
                                       std::to_string(max_output) + " allowed");
  }
  // Without a readable index the decoder still runs, on a small buffer, for its diagnosis.
  size_t capacity = known ? static_cast<size_t>(declared) : std::min<size_t>(max_output, 64 << 10);
  XzResult r;
  r.data.resize(capacity);
  uint64_t memlimit = kMemLimit;
  size_t in_pos = 0;
  size_t out_pos = 0;
  // A zero-length output buffer is fine for liblzma but data() may be null: give it one byte.
  if (r.data.empty()) r.data.resize(1);
  int ret = lib.decode(&memlimit, LZMA_CONCATENATED, nullptr, in, &in_pos, size, r.data.data(), &out_pos, capacity);
  if (ret == LZMA_OK) {
    r.data.resize(out_pos);
    r.ok = true;
    return r;
  }
  if (ret == LZMA_BUF_ERROR) {
    return failure("LZMA_DATA_ERROR", known ? "the xz data does not match its index"
                                            : "truncated or corrupt xz data (no valid index at its end)");
  }
  LzmaError e = lzma_error(ret);
  return failure(e.code, e.message);
}

}  // namespace stackshot
