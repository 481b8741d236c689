// Monotonic nanoseconds: every duration stackshot reports is measured with this clock.
#pragma once
#include <time.h>

#include <cstdint>

namespace stackshot {

inline int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

}  // namespace stackshot
