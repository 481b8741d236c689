/*
 * Where a one-shot perf sample's cost to a running thread goes, phase by phase, as the thread
 * itself sees it. Not part of `npm run bench`: a diagnostic for the perf path (issue 12).
 *
 *   gcc -O2 -o /tmp/perf-phases bench/perf-phases.c && /tmp/perf-phases [rounds]
 *
 * A forked child spins, reading the TSC; each gap > 1 µs without a context switch (an
 * interrupt on its CPU, not preemption) is logged with its end time. The parent samples it
 * the way native/capture/perf/thread_sampler.cc does (task clock, 10 µs period, disabled,
 * mmap, REFRESH 1, wait, close), for several sample_stack_user sizes and two ways to wait:
 * poll() on the event (the kernel then wakes us from the target's CPU) or naps that look at
 * the ring. Per configuration it prints the median of the largest gap in each phase:
 *   open    perf_event_open (installs the event on the target's CPU: an IPI)
 *   enable  REFRESH until the sample is in the ring (the enable IPI and the sample interrupt)
 *   close   munmap + close (removes the event: an IPI)
 * Rounds interleave the configurations; rounds in which the spinner did not run are skipped.
 * On a shared machine the numbers are noisy: compare configurations, not absolute values.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define LOG 4096
typedef struct {
  volatile uint64_t n;
  volatile uint64_t end_ns[LOG], gap_ticks[LOG];
  volatile uint8_t switched[LOG];
} Log;

static double ticks_per_ns;

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000ull + t.tv_nsec;
}

static void spin(Log *l) {
  const uint64_t threshold = (uint64_t)(1000 * ticks_per_ns);
  long switches = 0;
  for (uint64_t last = __rdtsc();;) {
    uint64_t t = __rdtsc();
    if (t - last > threshold) {
      struct rusage r;
      getrusage(RUSAGE_THREAD, &r);
      uint64_t i = l->n % LOG;
      l->gap_ticks[i] = t - last;
      l->end_ns[i] = now_ns();
      l->switched[i] = r.ru_nvcsw + r.ru_nivcsw != switches;
      switches = r.ru_nvcsw + r.ru_nivcsw;
      __sync_synchronize();
      l->n++;
      t = __rdtsc();
    }
    last = t;
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

enum { OPEN, ENABLE, CLOSE, PHASES };
static const char *phase_names[PHASES] = {"open", "enable+sample", "close"};

/* One sample of child; t[0..3] receive the phase boundaries. Returns 0 when a sample came. */
static int sample_once(pid_t child, uint32_t stack, int nap, uint64_t t[PHASES + 1]) {
  struct perf_event_attr a;
  memset(&a, 0, sizeof(a));
  a.size = sizeof(a);
  a.type = PERF_TYPE_SOFTWARE;
  a.config = PERF_COUNT_SW_TASK_CLOCK;
  a.sample_period = 10000;
  a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
  a.sample_regs_user = 0xff0fff;
  a.sample_stack_user = stack;
  a.disabled = 1;
  a.wakeup_events = 1;
  a.exclude_kernel = a.exclude_hv = 1;
  t[0] = now_ns();
  int fd = syscall(SYS_perf_event_open, &a, child, -1, -1, PERF_FLAG_FD_CLOEXEC);
  if (fd < 0) return perror("perf_event_open"), -1;
  size_t pages = 1;
  while (pages * 4096 < stack + 1024) pages <<= 1;
  struct perf_event_mmap_page *m = mmap(0, (pages + 1) * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) return perror("mmap"), close(fd), -1;
  t[1] = now_ns();
  ioctl(fd, PERF_EVENT_IOC_REFRESH, 1);
  const uint64_t deadline = t[1] + 100000000;
  if (nap) {
    for (long ns = 20000; m->data_head == 0 && now_ns() < deadline; ns = ns < 1000000 ? ns * 2 : ns) {
      struct timespec ts = {0, ns};
      nanosleep(&ts, NULL);
    }
  } else {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 100);
  }
  int got = m->data_head != 0 ? 0 : -1;
  t[2] = now_ns();
  munmap(m, (pages + 1) * 4096);
  close(fd);
  t[3] = now_ns();
  return got;
}

int main(int argc, char **argv) {
  const int rounds = argc > 1 ? atoi(argv[1]) : 200;
  uint64_t t0 = __rdtsc(), n0 = now_ns();
  usleep(100000);
  ticks_per_ns = (double)(__rdtsc() - t0) / (double)(now_ns() - n0);
  Log *l = mmap(0, sizeof(Log), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  pid_t child = fork();
  if (child == 0) spin(l);
  usleep(300000);

  const uint32_t stacks[] = {8, 4096, 16384, 65528};
  enum { NSTACK = 4, NCONF = NSTACK * 2 };
  uint64_t *largest = calloc((size_t)NCONF * PHASES * rounds, sizeof(uint64_t));
  int kept[NCONF] = {0};
  for (int r = 0; r < rounds; r++) {
    for (int c = 0; c < NCONF; c++) {
      uint64_t t[PHASES + 1], from = l->n;
      if (sample_once(child, stacks[c % NSTACK], c / NSTACK, t) != 0) continue;
      usleep(2000); /* the spinner logs the gaps that end after the close */
      uint64_t big[PHASES] = {0};
      int seen = 0;
      for (uint64_t j = from; j < l->n; j++) {
        uint64_t i = j % LOG, end = l->end_ns[i], gap = (uint64_t)(l->gap_ticks[i] / ticks_per_ns);
        if (l->switched[i] || end < t[0] || end - gap > t[3]) continue;
        for (int p = 0; p < PHASES; p++)
          if (end <= t[p + 1] || p == PHASES - 1) {
            if (gap > big[p]) big[p] = gap;
            seen = 1;
            break;
          }
      }
      if (!seen || t[2] - t[1] > 1000000) continue; /* the spinner was not running */
      for (int p = 0; p < PHASES; p++) largest[((size_t)c * PHASES + p) * rounds + kept[c]] = big[p];
      kept[c]++;
    }
  }
  printf("largest interrupt gap per phase, median µs (rounds kept)\n");
  for (int c = 0; c < NCONF; c++) {
    printf("stack %5u, wait by %-4s (%3d):", stacks[c % NSTACK], c / NSTACK ? "nap" : "poll", kept[c]);
    for (int p = 0; p < PHASES && kept[c] > 0; p++) {
      uint64_t *v = largest + ((size_t)c * PHASES + p) * rounds;
      qsort(v, kept[c], sizeof(uint64_t), cmp_u64);
      printf("  %s %6.1f", phase_names[p], v[kept[c] / 2] / 1e3);
    }
    printf("\n");
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return 0;
}
