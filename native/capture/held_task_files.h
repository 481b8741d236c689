// Reads of /proc/<pid>/task/<tid>/ files through descriptors held from one capture to the next.
// Opening a procfs file costs about 3 µs of a 4-10 µs read here; a held one is read again with
// pread, and each read is a fresh report (the access check is made at read time too).
// A descriptor names one task for good: once that thread has exited its reads fail, and a
// thread that reuses the tid is another task. So a failed read drops the descriptor and tries
// once more with a fresh open, and what a read returns is always the task the path names now.
// Each OS thread that reads them holds its own (the tracer thread; a recorder's threads): no
// locking. A thread holds the files of at most 64 tasks (256 descriptors), the least recently
// read going first, so what the caller's process holds stays bounded; its exit closes them.
#pragma once
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace stackshot {

enum class TaskFileKind : uint8_t { kStat, kStatus, kSchedstat, kSyscall };

// One read of the file into buf (at most size - 1 bytes, NUL-terminated): these files are
// generated whole by each read from offset 0. Returns 0 or errno; *len gets the length.
int read_task_file(pid_t pid, pid_t tid, TaskFileKind kind, char* buf, size_t size, size_t* len);

// What the calling thread last found of a task's tracer: none, while the task had been switched
// onto a CPU `timeslices` times (its schedstat count, never 0). Forgotten with the task's files
// (a read that failed, an eviction), so it never answers for a thread that reuses the tid.
void note_untraced(pid_t pid, pid_t tid, uint64_t timeslices);
bool untraced_at(pid_t pid, pid_t tid, uint64_t timeslices);

}  // namespace stackshot
