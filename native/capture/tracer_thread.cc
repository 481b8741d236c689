#include "capture/tracer_thread.h"

#include "capture/tracee_events.h"

#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

namespace stackshot {

namespace {

thread_local bool tls_holds_tracee = false;

// State shared by callers and one tracer thread; the thread keeps it alive while it runs.
struct Mailbox {
  std::mutex mutex;
  std::condition_variable cv;
  const std::function<void()>* job = nullptr;
  bool done = false;
  bool retired = false;
};

void tracer_main(std::shared_ptr<Mailbox> box) {
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  // The wait for a stop polls with 20 µs sleeps once its short spin is over; the default 50 µs
  // timer slack would stretch each to ~70 µs (and every pause with it).
  prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
  std::unique_lock<std::mutex> lock(box->mutex);
  for (;;) {
    box->cv.wait(lock, [&] { return box->job != nullptr; });
    const std::function<void()>* job = box->job;
    lock.unlock();
    (*job)();  // the job catches its own exceptions
    // Nothing may stay attached between jobs: detach stops nobody took, reap the dead; if a
    // tracee is still held (it never stopped), retire so the kernel releases it.
    if (!tracee_events().release_all()) tls_holds_tracee = true;
    lock.lock();
    box->job = nullptr;
    box->done = true;
    box->retired = tls_holds_tracee;
    box->cv.notify_all();
    if (box->retired) return;  // thread exit: the kernel detaches whatever we still hold
  }
}

std::mutex& call_mutex() {
  static auto* m = new std::mutex();
  return *m;
}

}  // namespace

void note_undetached_tracee() { tls_holds_tracee = true; }

bool holds_undetached_tracee() { return tls_holds_tracee; }

void run_on_tracer_thread(const std::function<void()>& job) {
  std::lock_guard<std::mutex> one_at_a_time(call_mutex());
  // Leaked on purpose: the thread may outlive static destruction at process exit.
  static std::shared_ptr<Mailbox>* current = new std::shared_ptr<Mailbox>();
  static std::thread* thread = new std::thread();
  if (!*current) {
    *current = std::make_shared<Mailbox>();
    *thread = std::thread(tracer_main, *current);
  }
  std::shared_ptr<Mailbox> box = *current;
  {
    std::unique_lock<std::mutex> lock(box->mutex);
    box->done = false;
    box->job = &job;
    box->cv.notify_all();
    box->cv.wait(lock, [&] { return box->done; });
  }
  if (box->retired) {
    // Wait for the thread's exit: only then has the kernel released what it still held, and
    // no capture may return while a target thread is attached.
    thread->join();
    current->reset();  // the next capture starts a fresh tracer thread
  }
}

}  // namespace stackshot
