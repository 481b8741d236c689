// The one sample format stackshot asks for, and its parser. A PERF_RECORD_SAMPLE with
// sample_type = IP | TID | TIME | REGS_USER | STACK_USER is laid out, in this order:
//   u64 ip; u32 pid, tid; u64 time; u64 abi; u64 regs[popcount(mask)] (only if abi != 0);
//   u64 size; u8 data[size]; u64 dyn_size (only if size != 0)
// Every length is checked against the record's own size before it is used.
#pragma once
#include <linux/perf_event.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace stackshot {

constexpr uint64_t kSampleType =
    PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;

struct ParsedSample {
  uint64_t ip = 0;
  pid_t pid = 0;
  pid_t tid = 0;
  uint64_t time = 0;
  uint64_t abi = PERF_SAMPLE_REGS_ABI_NONE;
  const uint64_t* regs = nullptr;  // into the record
  size_t reg_count = 0;
  const uint8_t* stack = nullptr;  // into the record: the bytes from the sampled sp upward
  size_t stack_size = 0;           // dyn_size: what the kernel could copy (<= the size asked)
  size_t stack_asked = 0;          // the size the kernel set out to copy (the request, clamped)
};

// record: one whole record (header included), contiguous, 8-byte aligned. Returns false if it
// is not a well-formed sample of kSampleType with reg_count registers.
bool parse_sample(const uint8_t* record, size_t size, size_t reg_count, ParsedSample* out);

}  // namespace stackshot
