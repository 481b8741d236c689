// The OS thread every ptrace call is made from. ptrace ties a tracee to the tracer *thread*,
// and the kernel releases all tracees of a tracer thread when it exits (exit_ptrace). So the
// tracer is one long-lived thread (creating one per snapshot costs ~50 µs), and it retires --
// exits, letting the kernel release what it still holds -- after any capture that could not
// detach a thread (one that never stopped in time). All signals are blocked on it: every
// tracee stop sends SIGCHLD to this process, and no handler may run inside a pause.
#pragma once
#include <functional>

namespace stackshot {

// Runs job on the tracer thread and waits for it. Jobs run one at a time.
void run_on_tracer_thread(const std::function<void()>& job);

// Called by a Tracee that had to be left attached; the tracer thread retires after its job.
void note_undetached_tracee();
// Whether the calling tracer thread holds such a tracee (until it retires).
bool holds_undetached_tracee();

}  // namespace stackshot
