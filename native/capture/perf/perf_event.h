// Opening one thread's software clock event that samples its user registers and user stack.
// The kernel copies at most just under 64 KiB of stack per sample (the record size is a u16).
#pragma once
#include <sys/types.h>

#include <cstdint>

namespace stackshot {

// The largest user-stack copy a sample may ask for (a multiple of 8 below USHRT_MAX).
constexpr uint32_t kMaxSampleStack = 65528;

struct PerfEventSpec {
  pid_t tid = 0;
  // Exactly one of these: a period in ns of the thread's own run time, or a rate in Hz.
  uint64_t period_ns = 0;
  uint64_t freq_hz = 0;
  uint32_t stack_bytes = kMaxSampleStack;
  bool start_disabled = false;  // enable later (PERF_EVENT_IOC_REFRESH / ENABLE)
  // Wake a poll()er at every sample, or only when the ring is half full (the kernel's default
  // watermark): each wake-up is an interrupt the target's CPU sends on the target's time.
  bool wake_each_sample = true;
};

// Returns an fd (close-on-exec) or -errno. Without privilege (perf_event_paranoid >= 2, no
// CAP_PERFMON) the kernel side must be excluded: a refusal with it included is retried without.
// EACCES / EPERM: not allowed here (paranoid, capabilities, seccomp); ENOENT / ENOSYS /
// EOPNOTSUPP: no perf events in this kernel or container.
int open_thread_clock(const PerfEventSpec& spec);

}  // namespace stackshot
