#include "capture/perf/sample_format.h"

#include <cstring>

namespace stackshot {

namespace {

class Cursor {
 public:
  Cursor(const uint8_t* p, size_t size) : p_(p), end_(p + size) {}
  bool u64(uint64_t* v) {
    if (!has(8)) return false;
    std::memcpy(v, p_, 8);
    p_ += 8;
    return true;
  }
  bool u32(uint32_t* v) {
    if (!has(4)) return false;
    std::memcpy(v, p_, 4);
    p_ += 4;
    return true;
  }
  const uint8_t* take(size_t n) {
    if (!has(n)) return nullptr;
    const uint8_t* at = p_;
    p_ += n;
    return at;
  }

 private:
  bool has(size_t n) const { return static_cast<size_t>(end_ - p_) >= n; }
  const uint8_t* p_;
  const uint8_t* end_;
};

}  // namespace

bool parse_sample(const uint8_t* record, size_t size, size_t reg_count, ParsedSample* out) {
  if (size < sizeof(perf_event_header)) return false;
  perf_event_header h;
  std::memcpy(&h, record, sizeof(h));
  if (h.type != PERF_RECORD_SAMPLE || h.size != size) return false;
  Cursor c(record + sizeof(h), size - sizeof(h));
  uint32_t pid, tid;
  if (!c.u64(&out->ip) || !c.u32(&pid) || !c.u32(&tid) || !c.u64(&out->time) || !c.u64(&out->abi)) return false;
  out->pid = static_cast<pid_t>(pid);
  out->tid = static_cast<pid_t>(tid);
  out->regs = nullptr;
  out->reg_count = 0;
  if (out->abi != PERF_SAMPLE_REGS_ABI_NONE) {
    const uint8_t* regs = c.take(reg_count * 8);
    if (regs == nullptr) return false;
    out->regs = reinterpret_cast<const uint64_t*>(regs);  // records are 8-byte aligned
    out->reg_count = reg_count;
  }
  uint64_t asked;
  if (!c.u64(&asked)) return false;
  out->stack = nullptr;
  out->stack_size = 0;
  out->stack_asked = asked;
  if (asked != 0) {
    const uint8_t* data = c.take(asked);
    uint64_t dyn;
    if (data == nullptr || !c.u64(&dyn) || dyn > asked) return false;
    out->stack = data;
    out->stack_size = dyn;
  }
  return true;
}

}  // namespace stackshot
