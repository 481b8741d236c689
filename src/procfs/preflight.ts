// Fast checks of a target before any ptrace call: only /proc reads, well under a millisecond.
// Each refusal is a StackshotError with a reason and a hint, so that the common mistakes
// (typo in the pid, our own pid, a kernel thread, a zombie) never reach the native side.
import * as fs from 'node:fs';
import { StackshotError, type ErrorReason } from '../errors';
import { isArch } from '../types';
import { foreignArchitecture } from './elf-class';
import { parseProcStatus, type ProcStatus } from './proc-status';

/** PF_KTHREAD in the flags field of /proc/<pid>/stat (include/linux/sched.h). */
export const PF_KTHREAD = 0x00200000;
/** PF_EXITING: the process is exiting (its memory may already be gone: not a kernel thread). */
const PF_EXITING = 0x00000004;

/** The fields of /proc/<pid>/stat that stackshot uses. */
export interface ProcStat {
  pid: number;
  /** comm, without the parentheses (it may itself contain spaces and parentheses). */
  comm: string;
  state: string;
  ppid: number;
  /** Field 9: the task's PF_* flags. */
  flags: number;
  /** Field 22: start time in clock ticks since boot; with the pid, it names one process. */
  startTime: string;
}

/** Parse the text of /proc/<pid>/stat. The comm is everything between the first '(' and the LAST ')'. */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('/proc stat: no comm field');
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state), so field n is rest[n - 3].
  const pid = Number(text.slice(0, open).trim());
  const state = rest[0] ?? '';
  const ppid = Number(rest[1]);
  const flags = Number(rest[6]);
  const startTime = rest[19] ?? '';
  if (!Number.isInteger(pid) || state === '' || !Number.isInteger(ppid) || !Number.isInteger(flags)) {
    throw new Error('/proc stat: malformed');
  }
  return { pid, comm: text.slice(open + 1, close), state, ppid, flags, startTime };
}

/** True when the stat flags mark a kernel thread. */
export function isKernelThreadFlags(flags: number): boolean {
  return (flags & PF_KTHREAD) !== 0;
}

function noSuchProcess(pid: number): StackshotError {
  return new StackshotError({
    code: 'ESRCH',
    syscall: 'open',
    reason: 'no-such-process',
    message: `no process with pid ${pid}`,
    hint: 'check the pid with `ps -e` (or `pgrep <name>`); the process may have exited',
    pid,
  });
}

/** Read a /proc file of pid; ENOENT/ESRCH (the process is gone) become ESRCH 'no-such-process'. */
function readProcFile(pid: number, file: string): string {
  try {
    return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH' || code === 'ENOTDIR') throw noSuchProcess(pid);
    throw new StackshotError({
      code: code ?? 'EIO',
      syscall: 'open',
      reason: 'unknown',
      message: `cannot read /proc/${pid}/${file}: ${(e as Error).message}`,
      hint: 'stackshot needs a mounted /proc (Linux only); in a container, share the pid namespace with the target',
      pid,
      cause: e,
    });
  }
}

/** True when every thread of the process is a zombie (or dead), i.e. the process has exited. */
function allThreadsZombie(pid: number): boolean {
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return true;
  }
  for (const tid of tids) {
    try {
      const st = parseProcStat(fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'));
      if (st.state !== 'Z' && st.state !== 'X') return false;
    } catch {
      // thread gone: it does not keep the process alive
    }
  }
  return true;
}

// Targets already checked, by pid, with the start time that makes the pid unambiguous (a reused
// pid has another start time). Repeated snapshots of one process then read one /proc file.
const checked = new Map<number, { startTime: string; tgid: number }>();
const CHECKED_MAX = 1024;

/** A process checkTarget passed before, which a caller may take on trust (trustedTarget). */
export interface TrustedTarget {
  tgid: number;
  /** Its start time when checked: the leader's start time a capture reads must equal it. */
  startTime: string;
}

/**
 * A pid checkTarget passed before as a process (not a thread id), taken without the /proc read
 * that checkTarget makes to see it still names that process: the caller's capture reads the
 * leader's start time anyway and confirms it (confirmTarget), or forgets it and checks afresh.
 */
export function trustedTarget(pid: unknown): TrustedTarget | undefined {
  if (typeof pid !== 'number' || pid === process.pid) return undefined;
  const known = checked.get(pid);
  return known?.tgid === pid ? { tgid: pid, startTime: known.startTime } : undefined;
}

/**
 * Whether a capture of a trusted target was of the process checked: its leader had the same
 * start time, and a thread was live (a process of zombies is checkTarget's to refuse). If not,
 * the target is forgotten, and the next checkTarget checks it whole.
 */
export function confirmTarget(t: TrustedTarget, leaderStartTime: string | undefined, anyLive: boolean): boolean {
  if (leaderStartTime === t.startTime && anyLive) return true;
  forgetTarget(t);
  return false;
}

/** After a failed capture of a trusted target: the next checkTarget checks it whole. */
export function forgetTarget(t: TrustedTarget): void {
  checked.delete(t.tgid);
}

/** The pid as a positive safe integer, or EINVAL 'not-integer'. */
function pidNumber(pid: unknown): number {
  let n: number;
  if (typeof pid === 'number') n = pid;
  else if (typeof pid === 'string' && /^\s*\d+\s*$/.test(pid)) n = Number(pid);
  else if (typeof pid === 'bigint') n = Number(pid);
  else n = NaN;
  if (Number.isSafeInteger(n) && n > 0) return n;
  const shown = typeof pid === 'string' ? JSON.stringify(pid) : String(pid);
  throw new StackshotError({
    code: 'EINVAL',
    syscall: 'ptrace',
    reason: 'not-integer',
    message: `invalid pid ${shown}: a pid is a positive integer`,
    hint: 'pass the numeric process id, e.g. `stackshot 1234` (find it with `pgrep <name>` or `ps -e`)',
  });
}

function ownPidError(n: number): StackshotError {
  return new StackshotError({
    code: 'EINVAL',
    syscall: 'ptrace',
    reason: 'own-pid',
    message: `pid ${n} is this process (stackshot itself): a process cannot trace its own threads`,
    hint: 'run stackshot from another process (e.g. `npx stackshot <pid>` in another terminal, or a child_process from your app)',
    pid: n,
  });
}

/** The status of pid's thread group leader (pid itself, or the process a thread id belongs to). */
function leaderStatus(n: number): ProcStatus {
  // Pids above pid_max (at most 2^22) cannot exist; anything else is looked up in /proc.
  const read = (pid: number): ProcStatus => {
    try {
      return parseProcStatus(readProcFile(pid, 'status'));
    } catch (e) {
      if (e instanceof StackshotError) throw e;
      throw noSuchProcess(n); // the process vanished between reads, or status is cut short
    }
  };
  const status = read(n);
  // A thread id: work on its thread group leader. (One of our own threads has our Tgid.)
  if (status.tgid === process.pid) throw ownPidError(n);
  return status.tgid === n ? status : read(status.tgid);
}

const isZombie = (stat: ProcStat): boolean => stat.state === 'Z' || stat.state === 'X';

/**
 * Refuse a process stackshot cannot snapshot: a kernel thread, a zombie, another architecture.
 * `status` and `statBefore` were read before; the process may have begun to exit since.
 */
export function refuseUnsupported(tgid: number, status: ProcStatus, statBefore: ProcStat): void {
  const noMemory = !isZombie(statBefore) && hasNoUserMemory(tgid);
  // The kernel marks an exit (PF_EXITING, then a zombie leader) before it drops the memory, so a
  // stat read after seeing no memory shows an exit that began after statBefore.
  const stat = noMemory ? parseProcStat(readProcFile(tgid, 'stat')) : statBefore;
  const gone = noMemory && !isZombie(stat) && (stat.flags & PF_EXITING) !== 0;
  if (gone && !isKernelThreadFlags(stat.flags)) throw noSuchProcess(tgid);
  const kthread = isKernelThreadFlags(stat.flags) || status.kthread === true || (noMemory && !isZombie(stat));
  const refuse = (code: string, reason: ErrorReason, message: string, hint: string): never => {
    throw new StackshotError({ code, syscall: 'ptrace', reason, message, hint, pid: tgid });
  };
  const who = `pid ${tgid} (${stat.comm})`;
  if (kthread) {
    refuse(
      'EINVAL',
      'kernel-thread',
      `${who} is a kernel thread: it has no user-space stack`,
      'pick a user-space process (kernel threads show in brackets in `ps -e`); for kernel stacks read /proc/<pid>/stack as root',
    );
  }
  if (isZombie(stat) && allThreadsZombie(tgid)) {
    refuse(
      'ESRCH',
      'zombie',
      `${who} is a zombie: it has exited and waits for its parent (pid ${stat.ppid}) to reap it`,
      `a zombie has no threads left to inspect; its parent (pid ${stat.ppid}) must wait() for it`,
    );
  }
  // On a host stackshot does not run on (the addon would not load), there is nothing to compare.
  const foreign = isArch(process.arch) ? foreignArchitecture(tgid, process.arch) : null;
  if (foreign !== null) {
    refuse(
      'EINVAL',
      'unsupported-architecture',
      `${who} is a ${foreign} process: stackshot unwinds ${process.arch} processes only`,
      'use eu-stack -p <pid> or gdb for this process; stackshot does not stop it',
    );
  }
}

/**
 * Check that pid names a live user-space process that we could trace, and return its pid.
 *
 * - `pid` must be a positive integer (a number, or a string of decimal digits); else EINVAL
 *   'not-integer'.
 * - A thread id of a non-leader thread is accepted and resolved to its process (the Tgid:
 *   line of /proc/<tid>/status): the returned number is then the process id, not `pid`.
 *   The snapshot covers every thread of that process; use options.threads to pick one.
 * - Our own process (process.pid or any of our thread ids) → EINVAL 'own-pid'.
 * - No such process → ESRCH 'no-such-process'.
 * - A kernel thread (PF_KTHREAD, or no memory map) → EINVAL 'kernel-thread'.
 * - A zombie (every thread in state Z) → ESRCH 'zombie'.
 * - A process of another architecture (a 32-bit one) → EINVAL 'unsupported-architecture'.
 *
 * It does not check permissions (uid, Yama, tracer present): the kernel decides those at
 * attach time, and a refusal is explained by diagnosePermission().
 */
export function checkTarget(pid: unknown): number {
  const n = pidNumber(pid);
  if (n === process.pid) throw ownPidError(n);

  const known = checked.get(n);
  if (known !== undefined) {
    const now = parseProcStat(readProcFile(n, 'stat'));
    if (now.startTime === known.startTime && now.state !== 'Z' && now.state !== 'X') return known.tgid;
    checked.delete(n);
  }

  const status = leaderStatus(n);
  const tgid = status.tgid;
  const stat = parseProcStat(readProcFile(tgid, 'stat'));
  refuseUnsupported(tgid, status, stat);
  const own = n === tgid ? stat : parseProcStat(readProcFile(n, 'stat'));
  if (checked.size >= CHECKED_MAX) checked.clear();
  checked.set(n, { startTime: own.startTime, tgid });
  return tgid;
}

/**
 * True when the process demonstrably has no user memory: no executable (readlink of exe fails
 * with ENOENT, cheap) and an empty maps file that we could read. Unreadable files (EACCES
 * without ptrace-read access) are not evidence of anything.
 */
function hasNoUserMemory(pid: number): boolean {
  try {
    fs.readlinkSync(`/proc/${pid}/exe`);
    return false;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/maps`, 'utf8').length === 0;
  } catch {
    return false;
  }
}
