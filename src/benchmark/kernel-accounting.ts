// What the kernel itself counted for each thread over a capture's window, next to the pause
// stackshot measured: /proc/<pid>/task/<tid>/schedstat (run delay: time runnable but waiting
// for a CPU) and the context switches in /proc/<pid>/task/<tid>/status. A ptrace stop shows
// up there as a voluntary switch of the stopped thread; a stop-free capture leaves them as
// they were (up to what the thread did on its own meanwhile).
import * as fs from 'node:fs';

export interface ThreadCounters {
  runDelayNs: number;
  switches: number;
}

/** Small /proc files: a thread's counters are a few hundred bytes. */
const MAX_BYTES = 16 * 1024;

function readSmall(file: string): string | null {
  let fd: number | undefined;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const buf = Buffer.alloc(MAX_BYTES);
    const n = fs.readSync(fd, buf, 0, MAX_BYTES, null);
    return buf.toString('utf8', 0, n);
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The counters of one thread, or null when it is gone or the kernel keeps no schedstat. */
export function readThreadCounters(pid: number, tid: number): ThreadCounters | null {
  const sched = readSmall(`/proc/${pid}/task/${tid}/schedstat`);
  const status = readSmall(`/proc/${pid}/task/${tid}/status`);
  if (sched === null || status === null) return null;
  const delay = Number(sched.trim().split(/\s+/)[1]);
  const vol = /^voluntary_ctxt_switches:\s*(\d+)$/m.exec(status);
  const nonvol = /^nonvoluntary_ctxt_switches:\s*(\d+)$/m.exec(status);
  if (!Number.isFinite(delay) || vol === null || nonvol === null) return null;
  return { runDelayNs: delay, switches: Number(vol[1]) + Number(nonvol[1]) };
}

/** Every thread id of pid now (empty when the process is gone). */
export function threadIds(pid: number): number[] {
  try {
    return fs
      .readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((t) => Number.isSafeInteger(t) && t > 0);
  } catch {
    return [];
  }
}

export function readAllCounters(pid: number, tids: readonly number[]): Map<number, ThreadCounters | null> {
  return new Map(tids.map((tid) => [tid, readThreadCounters(pid, tid)]));
}

/** Per thread read both times: what changed. Threads missing at either read are counted apart. */
export function counterDeltas(
  before: Map<number, ThreadCounters | null>,
  after: Map<number, ThreadCounters | null>,
): { deltas: ThreadCounters[]; unread: number } {
  const deltas: ThreadCounters[] = [];
  let unread = 0;
  for (const [tid, b] of before) {
    const a = after.get(tid);
    if (b === null || a === null || a === undefined) {
      unread++;
      continue;
    }
    deltas.push({ runDelayNs: a.runDelayNs - b.runDelayNs, switches: a.switches - b.switches });
  }
  return { deltas, unread };
}
