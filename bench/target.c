/*
 * bench/target.c — the stackshot benchmark workload (compiled by bench/target.js, cached in
 * os.tmpdir()). Not a test fixture: it exists to be measured from outside AND to measure,
 * from the inside, how long it was stopped.
 *
 * Usage:
 *   target --workers N --depth D --stats FILE [--gap-ns NS]
 *
 * Threads (comm names in brackets; all functions are noinline, frame pointers on):
 *   main     [bench-target]  main -> main_wait -> pause
 *   spinner  [spin]          spin_thread_main -> recurse x D -> spin_leaf (spins; calls spin_work)
 *   worker i [w<i>-<kind>]   worker_thread_main -> recurse x D -> leaf, kind = i % 4:
 *              0 sleep:    leaf_sleep   -> nanosleep
 *              1 condwait: leaf_condwait -> pthread_cond_wait (never signalled)
 *              2 join:     leaf_join    -> pthread_join (on worker i-1, which never exits)
 *              3 epoll:    leaf_epoll   -> epoll_wait (empty set, no timeout)
 *   So the process has N + 2 threads.
 *
 * Stop gaps, seen by the target itself: the spinner reads the TSC on every loop iteration.
 * When two consecutive reads are more than --gap-ns apart (default 1000 ns), the thread was
 * not running in between (ptrace stop, preemption, interrupt): it logs the gap with its end
 * time on CLOCK_MONOTONIC (the clock of Node's process.hrtime) into FILE, a shared mapping
 * that the bench reads. Layout (all little-endian u64):
 *   [0] magic 0x5354414b53484f54  [1] version 1
 *   [2] loops (published every 1024 iterations)   [3] TSC ticks per µs × 1000
 *   [4] gap threshold ns   [5] gaps logged (monotonic; ring index = n % RING)
 *   [6] max gap ns   [7] sum of gap ns   [8] monotonic ns of the last loops publication
 *   [16..47] histogram of gaps, bucket b counts gaps in [2^b, 2^(b+1)) ns
 *   [64 ..]  ring of RING entries {end_monotonic_ns, gap_ns, switches, run_delay_ns}:
 *            run_delay_ns = time spent RUNNABLE but waiting for a CPU during the gap (from
 *            /proc/thread-self/schedstat, read only when a gap is seen), so gap - run_delay is
 *            the time the thread was stopped or in the kernel; switches = voluntary
 *            context switches during the gap << 32 | involuntary ones (getrusage(RUSAGE_THREAD),
 *            read only when a gap is seen). The spinner never blocks by itself, so a voluntary
 *            switch means it was STOPPED (ptrace stop, TASK_TRACED); a gap with only involuntary
 *            switches is preemption, and one with neither is an interrupt or a VM exit.
 *
 * stdout (flushed): `clock rdtsc_ns=… mono_ns=… coarse_ns=… coarse_res_ns=… tsc_mhz=…`, one
 * `thread <kind> <tid> <name>` line per thread, then `ready` when every worker is blocked
 * (state S) and the spinner is in its loop.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define NOINLINE __attribute__((noinline, noclone, noipa))
#define RING 2048
#define HDR 64

volatile int keep_running = 1;
volatile unsigned long sink;

static volatile uint64_t *stats;
static uint64_t gap_ticks;
static uint64_t log_anomaly_ticks; /* logging a gap normally takes < 30 µs */
static double ns_per_tick;

static void die(const char *what) {
  fprintf(stderr, "bench target: %s: %s\n", what, strerror(errno));
  abort();
}

static uint64_t mono_ns(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ------------------------------------------------------------------ calibration */

static void calibrate(void) {
  uint64_t m0 = mono_ns(CLOCK_MONOTONIC), t0 = __rdtsc();
  struct timespec d = {0, 100 * 1000 * 1000};
  nanosleep(&d, NULL);
  uint64_t m1 = mono_ns(CLOCK_MONOTONIC), t1 = __rdtsc();
  ns_per_tick = (double)(m1 - m0) / (double)(t1 - t0);

  /* cost of the candidate clocks, so the bench can report why it reads the TSC */
  enum { K = 200000 };
  uint64_t a = mono_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < K; i++) sink += __rdtsc();
  uint64_t b = mono_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < K; i++) sink += mono_ns(CLOCK_MONOTONIC);
  uint64_t c = mono_ns(CLOCK_MONOTONIC);
  for (int i = 0; i < K; i++) sink += mono_ns(CLOCK_MONOTONIC_COARSE);
  uint64_t e = mono_ns(CLOCK_MONOTONIC);
  struct timespec res;
  clock_getres(CLOCK_MONOTONIC_COARSE, &res);
  printf("clock rdtsc_ns=%.1f mono_ns=%.1f coarse_ns=%.1f coarse_res_ns=%ld tsc_mhz=%.1f\n", (double)(b - a) / K,
         (double)(c - b) / K, (double)(e - c) / K, res.tv_nsec, 1000.0 / ns_per_tick);
  fflush(stdout);
}

/* ------------------------------------------------------------------ threads */

enum kind { K_SLEEP, K_CONDWAIT, K_JOIN, K_EPOLL, K_SPIN };
static const char *kind_names[] = {"sleep", "condwait", "join", "epoll", "spin"};

struct slot {
  enum kind kind;
  int index;
  int depth;
  pthread_t handle;
  volatile pid_t tid;
  volatile int ready;
  char name[16];
};

static struct slot *slots;
static int nslots;
static pthread_mutex_t never_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t never_cond = PTHREAD_COND_INITIALIZER;
static int epfd;

static long last_nvcsw, last_nivcsw;
static int schedstat_fd = -1;
static uint64_t last_run_delay;

static uint64_t run_delay_ns(void) {
  char buf[96];
  if (schedstat_fd < 0) return 0;
  ssize_t n = pread(schedstat_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return 0;
  buf[n] = 0;
  char *p = strchr(buf, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

static void log_gap(uint64_t ticks) {
  uint64_t ns = (uint64_t)((double)ticks * ns_per_tick);
  uint64_t n = stats[5];
  volatile uint64_t *e = stats + HDR + 4 * (n % RING);
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  uint64_t vol = (uint64_t)(ru.ru_nvcsw - last_nvcsw), invol = (uint64_t)(ru.ru_nivcsw - last_nivcsw);
  last_nvcsw = ru.ru_nvcsw;
  last_nivcsw = ru.ru_nivcsw;
  uint64_t rd = run_delay_ns();
  e[3] = rd - last_run_delay;
  last_run_delay = rd;
  e[0] = mono_ns(CLOCK_MONOTONIC);
  e[1] = ns;
  e[2] = (vol << 32) | (invol & 0xffffffffu);
  int b = 63 - __builtin_clzll(ns | 1);
  if (b > 31) b = 31;
  stats[16 + b]++;
  if (ns > stats[6]) stats[6] = ns;
  stats[7] += ns;
  __atomic_store_n(&stats[5], n + 1, __ATOMIC_RELEASE);
}

NOINLINE void spin_work(unsigned long i) { sink += i * 2654435761u; }

NOINLINE void spin_leaf(struct slot *s) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  last_nvcsw = ru.ru_nvcsw;
  last_nivcsw = ru.ru_nivcsw;
  schedstat_fd = open("/proc/thread-self/schedstat", O_RDONLY);
  last_run_delay = run_delay_ns();
  s->ready = 1;
  uint64_t loops = 0;
  uint64_t last = __rdtsc();
  while (keep_running) {
    uint64_t now = __rdtsc();
    if (now - last > gap_ticks) {
      log_gap(now - last);
      uint64_t after = __rdtsc();
      /* The logging itself (a few µs of syscalls) is not a gap, unless the thread was stopped
       * or preempted during it: then keep `last`, and the next iteration logs the whole span. */
      if (after - now < log_anomaly_ticks) now = after;
    }
    last = now;
    spin_work(loops);
    if ((++loops & 1023) == 0) {
      stats[2] = loops;
      stats[8] = 0; /* cheap: the reader uses its own clock; kept for layout stability */
    }
  }
}

NOINLINE void leaf_sleep(struct slot *s) {
  struct timespec d = {100000, 0};
  s->ready = 1;
  while (keep_running) nanosleep(&d, NULL);
}

NOINLINE void leaf_condwait(struct slot *s) {
  pthread_mutex_lock(&never_mutex);
  s->ready = 1;
  while (keep_running) pthread_cond_wait(&never_cond, &never_mutex);
  pthread_mutex_unlock(&never_mutex);
}

NOINLINE void leaf_join(struct slot *s) {
  s->ready = 1;
  if (keep_running) pthread_join(slots[s->index - 1].handle, NULL);
}

NOINLINE void leaf_epoll(struct slot *s) {
  struct epoll_event ev;
  s->ready = 1;
  while (keep_running) epoll_wait(epfd, &ev, 1, -1);
}

NOINLINE void leaf(struct slot *s) {
  switch (s->kind) {
    case K_SLEEP: leaf_sleep(s); break;
    case K_CONDWAIT: leaf_condwait(s); break;
    case K_JOIN: leaf_join(s); break;
    case K_EPOLL: leaf_epoll(s); break;
    case K_SPIN: spin_leaf(s); break;
  }
}

NOINLINE int recurse(struct slot *s, int depth) {
  if (depth <= 1) leaf(s);
  else sink += recurse(s, depth - 1);
  return (int)sink & 1;
}

NOINLINE void *worker_thread_main(void *arg) {
  struct slot *s = arg;
  s->tid = (pid_t)syscall(SYS_gettid);
  pthread_setname_np(pthread_self(), s->name);
  sink += recurse(s, s->depth);
  return NULL;
}

NOINLINE void *spin_thread_main(void *arg) { return worker_thread_main(arg); }

static char thread_state(pid_t tid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", tid);
  int fd = open(path, O_RDONLY);
  if (fd < 0) return '?';
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return '?';
  buf[n] = 0;
  char *p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : '?';
}

NOINLINE void main_wait(void) {
  while (keep_running) pause();
}

int main(int argc, char **argv) {
  int workers = 8, depth = 20;
  long gap_ns = 1000;
  const char *stats_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--workers") && i + 1 < argc) workers = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--depth") && i + 1 < argc) depth = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--stats") && i + 1 < argc) stats_path = argv[++i];
    else if (!strcmp(argv[i], "--gap-ns") && i + 1 < argc) gap_ns = atol(argv[++i]);
    else {
      fprintf(stderr, "usage: target --workers N --depth D --stats FILE [--gap-ns NS]\n");
      return 2;
    }
  }
  if (!stats_path || workers < 0 || depth < 1) {
    fprintf(stderr, "target: --stats is required; --workers >= 0, --depth >= 1\n");
    return 2;
  }
  signal(SIGINT, SIG_DFL);
  signal(SIGQUIT, SIG_DFL);

  size_t size = (HDR + 4 * RING) * sizeof(uint64_t);
  int fd = open(stats_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open stats");
  if (ftruncate(fd, (off_t)size) != 0) die("ftruncate");
  stats = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (stats == MAP_FAILED) die("mmap");
  close(fd);

  calibrate();
  gap_ticks = (uint64_t)((double)gap_ns / ns_per_tick);
  log_anomaly_ticks = (uint64_t)(30000.0 / ns_per_tick);
  stats[0] = 0x5354414b53484f54ull;
  stats[1] = 3;
  stats[3] = (uint64_t)(1000.0 * 1000.0 / ns_per_tick);
  stats[4] = (uint64_t)gap_ns;

  epfd = epoll_create1(0);
  if (epfd < 0) die("epoll_create1");

  nslots = workers + 1;
  slots = calloc((size_t)nslots, sizeof *slots);
  for (int i = 0; i < nslots; i++) {
    struct slot *s = &slots[i];
    s->index = i;
    s->depth = depth;
    if (i == workers) {
      s->kind = K_SPIN;
      snprintf(s->name, sizeof s->name, "spin");
    } else {
      s->kind = (enum kind)(i % 4);
      if (s->kind == K_JOIN && i == 0) s->kind = K_SLEEP; /* unreachable: i % 4 == 2 */
      snprintf(s->name, sizeof s->name, "w%d-%s", i, kind_names[s->kind]);
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    if (pthread_create(&s->handle, &attr, s->kind == K_SPIN ? spin_thread_main : worker_thread_main, s) != 0) die("pthread_create");
    pthread_attr_destroy(&attr);
  }
  printf("thread main %d bench-target\n", getpid());
  for (int i = 0; i < nslots; i++) {
    struct slot *s = &slots[i];
    while (!s->ready || !s->tid) usleep(200);
    if (s->kind != K_SPIN)
      while (thread_state(s->tid) != 'S') usleep(200);
    printf("thread %s %d %s\n", kind_names[s->kind], s->tid, s->name);
  }
  printf("ready\n");
  fflush(stdout);
  main_wait();
  return 0;
}
