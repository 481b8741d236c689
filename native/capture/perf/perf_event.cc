#include "capture/perf/perf_event.h"

#include <linux/perf_event.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "capture/perf/sample_format.h"
#include "capture/perf/sample_regs.h"

namespace stackshot {

namespace {

int perf_event_open(perf_event_attr* attr, pid_t tid) {
  long fd = syscall(SYS_perf_event_open, attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

}  // namespace

int open_thread_clock(const PerfEventSpec& spec) {
  perf_event_attr attr;
  std::memset(&attr, 0, sizeof(attr));
  attr.size = sizeof(attr);
  attr.type = PERF_TYPE_SOFTWARE;
  // The thread's own run time: a thread that is not on a CPU is never sampled.
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  if (spec.freq_hz != 0) {
    attr.freq = 1;
    attr.sample_freq = spec.freq_hz;
  } else {
    attr.sample_period = spec.period_ns;
  }
  attr.sample_type = kSampleType;
  attr.sample_regs_user = perf_user_regs_mask();
  attr.sample_stack_user = spec.stack_bytes;
  attr.disabled = spec.start_disabled ? 1 : 0;
  attr.wakeup_events = spec.wake_each_sample ? 1 : 0;  // 0: at half the ring
  attr.exclude_idle = 1;
  attr.exclude_callchain_kernel = 1;
  attr.exclude_callchain_user = 1;
  int fd = perf_event_open(&attr, spec.tid);
  if (fd == -EACCES || fd == -EPERM) {
    // perf_event_paranoid >= 2 lets an unprivileged caller see user mode only.
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    fd = perf_event_open(&attr, spec.tid);
  }
  return fd;
}

}  // namespace stackshot
