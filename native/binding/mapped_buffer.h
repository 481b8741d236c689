// A Buffer over memory from mmap, unmapped when JavaScript collects the Buffer.
#pragma once
#include <napi.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

namespace stackshot {

// `length` bytes at `data`, inside the mapping [base, base + mapped) that the Buffer then owns.
inline Napi::Buffer<uint8_t> buffer_over_mapping(Napi::Env env, void* base, size_t mapped, uint8_t* data,
                                                 size_t length) {
  struct Mapping {
    void* base;
    size_t size;
  };
  auto unmap = [](Napi::Env, uint8_t*, Mapping* m) {
    munmap(m->base, m->size);
    delete m;
  };
  return Napi::Buffer<uint8_t>::New(env, data, length, unmap, new Mapping{base, mapped});
}

}  // namespace stackshot
