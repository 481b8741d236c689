// Small synchronous /proc readers for tests. Threads may exit at any moment: functions that
// walk /proc/<pid>/task skip threads that vanish between listing and reading.

import * as fs from 'node:fs';
import { PerfMapCache } from '../../src/symbolize/perf-map';

function readOrNull(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return null;
    throw e;
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Thread ids of `pid`, ascending. Throws if the process does not exist. */
export function threadIds(pid: number): number[] {
  return fs
    .readdirSync(`/proc/${pid}/task`)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => a - b);
}

/** comm of one thread (what pthread_setname_np set; at most 15 chars). */
export function threadName(pid: number, tid: number): string {
  return fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
}

/** tid → comm for every thread of `pid`. */
export function threadNames(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const tid of threadIds(pid)) {
    const comm = readOrNull(`/proc/${pid}/task/${tid}/comm`);
    if (comm !== null) out.set(tid, comm.replace(/\n$/, ''));
  }
  return out;
}

/** State letter (R, S, D, T, t, Z, …) from a /proc/…/stat text; the comm may hold ')' and spaces. */
function stateOf(stat: string): string {
  const close = stat.lastIndexOf(')');
  return stat.charAt(close + 2);
}

/** State letter of one thread, or null if it is gone. */
export function threadState(pid: number, tid: number): string | null {
  const stat = readOrNull(`/proc/${pid}/task/${tid}/stat`);
  return stat === null ? null : stateOf(stat);
}

/** tid → state letter from /proc/<pid>/task/<tid>/stat. */
export function threadStates(pid: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const tid of threadIds(pid)) {
    const s = threadState(pid, tid);
    if (s !== null) out.set(tid, s);
  }
  return out;
}

/** Process state letter of `pid`, or null if there is no such process. */
export function processState(pid: number): string | null {
  const stat = readOrNull(`/proc/${pid}/stat`);
  return stat === null ? null : stateOf(stat);
}

/** True while /proc/<pid> exists and the process is not a zombie. */
export function isAlive(pid: number): boolean {
  const s = processState(pid);
  return s !== null && s !== 'Z' && s !== 'X';
}

/** One field of /proc/<pid>/status (or /proc/<pid>/task/<tid>/status), e.g. 'PPid'. */
export function statusField(pid: number, field: string, tid?: number): string {
  const path = tid === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`;
  const text = fs.readFileSync(path, 'utf8');
  const m = new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(text);
  if (!m) throw new Error(`no ${field} in ${path}`);
  return m[1].trim();
}

/** Parent pid. */
export function parentPid(pid: number): number {
  return Number(statusField(pid, 'PPid'));
}

/** TracerPid from /proc/<pid>/status (0 when not traced). With `tid`, that thread's. */
export function tracerPid(pid: number, tid?: number): number {
  return Number(statusField(pid, 'TracerPid', tid));
}

/** tid → TracerPid for every thread (ptrace attaches per thread). */
export function tracerPids(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of threadIds(pid)) {
    try {
      out.set(tid, tracerPid(pid, tid));
    } catch (e) {
      // A thread that exits between the listing and the read: gone (ENOENT) or dying (ESRCH).
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ESRCH') throw e;
    }
  }
  return out;
}

function describeThreads(pid: number, tids: number[], extra: (tid: number) => string): string {
  return tids
    .map((tid) => {
      let name = '?';
      try {
        name = threadName(pid, tid);
      } catch {
        /* gone */
      }
      return `${tid} (${name}) ${extra(tid)}`;
    })
    .join(', ');
}

/**
 * Throw if any thread of `pid` is stopped: state 't' (tracing stop, e.g. left in a ptrace
 * stop) or 'T' (job-control stop, e.g. a SIGSTOP that leaked). Call it after a snapshot
 * returned: by then nothing may be stopped. `graceMs` (default 0) re-checks for up to that
 * long before throwing, for callers that race something else on purpose.
 */
export function assertNoThreadStopped(pid: number, graceMs = 0): void {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const states = threadStates(pid);
    const stopped = [...states].filter(([, s]) => s === 't' || s === 'T').map(([tid]) => tid);
    if (stopped.length === 0) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `process ${pid}: ${stopped.length} thread(s) stopped: ` +
          describeThreads(pid, stopped, (tid) => `state ${states.get(tid)}`),
      );
    }
    sleepSync(2);
  }
}

/** Throw if any thread of `pid` is stopped (see assertNoThreadStopped) or still traced. */
export function assertDetached(pid: number, graceMs = 0): void {
  assertNoThreadStopped(pid, graceMs);
  const traced = [...tracerPids(pid)].filter(([, t]) => t !== 0);
  if (traced.length) {
    throw new Error(
      `process ${pid}: ${traced.length} thread(s) still traced: ` +
        describeThreads(
          pid,
          traced.map(([tid]) => tid),
          (tid) => `TracerPid ${traced.find(([t]) => t === tid)?.[1]}`,
        ),
    );
  }
}

/** tid of the thread of `pid` whose comm is `name` (the lowest tid if several). Throws if none. */
export function findThreadByName(pid: number, name: string): number {
  const names = threadNames(pid);
  for (const [tid, comm] of names) if (comm === name) return tid;
  throw new Error(
    `process ${pid} has no thread named ${JSON.stringify(name)}; threads: ${[...names].map(([t, n]) => `${t}=${n}`).join(' ')}`,
  );
}

/** Resolves once `cond()` holds; rejects after timeoutMs (a bound, not a timing claim). */
export async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${cond.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The perf map path of pid, with nothing there, for a target that writes none: a map found there
 * was left by an earlier process with this pid (pids are reused; node never removes its map, nor
 * does a killed one), and would be refused as stale, not missing.
 */
export function emptyPerfMapPath(pid: number): string {
  const map = PerfMapCache.pathFor(pid);
  fs.rmSync(map, { force: true });
  return map;
}
