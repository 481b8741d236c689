// Decompression of whole .xz streams held in memory (MiniDebugInfo: the .gnu_debugdata
// section is an xz-compressed ELF). The decoder is the system's liblzma, loaded on first use.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace stackshot {

/** Output cap when the caller gives none: MiniDebugInfo is a symbol table, never this large. */
constexpr size_t kXzDefaultMaxOutput = size_t{256} << 20;

struct XzResult {
  bool ok = false;
  std::vector<uint8_t> data;
  /** On failure: a stable code (liblzma's lzma_ret name, LIBLZMA_MISSING, XZ_TOO_LARGE) and a message. */
  std::string code;
  std::string message;
};

/** Decodes the .xz data in [in, in + size) into at most max_output bytes. Never throws. */
XzResult xz_decompress(const uint8_t* in, size_t size, size_t max_output);

}  // namespace stackshot
