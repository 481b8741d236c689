// Errors that stackshot throws for expected failures (bad pid, no such process, ptrace refused,
// ...). They have the shape of Node's SystemError (code, errno, syscall) plus a `reason` a
// program can branch on and a one-line `hint` that says what to do about it.
import * as os from 'node:os';
import * as util from 'node:util';
import { diagnosePermission } from './procfs/permissions';

/** Why stackshot could not take a snapshot. Stable: programs may branch on it. */
export type ErrorReason =
  | 'not-integer' // the pid is not a positive integer
  | 'own-pid' // the pid is this process (or one of its threads): a tracer cannot trace itself
  | 'no-such-process' // no process with that pid (or it exited)
  | 'kernel-thread' // a kernel thread: no user-space stack
  | 'zombie' // the process has exited and waits to be reaped
  | 'yama' // the Yama LSM (kernel.yama.ptrace_scope) refuses the attach
  | 'no-capability' // running as root but without CAP_SYS_PTRACE (containers)
  | 'other-uid' // the target runs as another user and we lack CAP_SYS_PTRACE
  | 'already-traced' // another tracer (debugger, strace, profiler) is attached
  | 'not-dumpable' // the target made itself non-dumpable (setuid, prctl(PR_SET_DUMPABLE, 0))
  | 'bad-capture-file' // a file given to `stackshot unwind` that is missing or not a capture
  | 'modules-changed' // a capture's module files changed since it was taken (and it does not embed them)
  | 'cannot-write-output' // an output path (--save, record -o) that cannot be written
  | 'unsupported-architecture' // a process of another architecture (32-bit i386, x32, arm32)
  | 'unknown';

export interface StackshotErrorInit {
  /** errno name, e.g. 'EPERM'. */
  code: string;
  syscall: string;
  reason: ErrorReason;
  message: string;
  hint: string;
  pid?: number;
  cause?: unknown;
}

/** errno value libuv uses for errors without an errno name (UV_UNKNOWN). */
const UNKNOWN_ERRNO = -4094;

/** The negative errno for an errno name, like Node's SystemError ('EPERM' → -1). */
export function errnoOf(code: string): number {
  const n = (os.constants.errno as Record<string, number | undefined>)[code];
  return typeof n === 'number' ? -n : UNKNOWN_ERRNO;
}

/** The errno name of a positive or negative errno value ('EPERM' for 1 or -1), or undefined. */
export function errnoName(errno: number): string | undefined {
  if (!Number.isInteger(errno) || errno === 0) return undefined;
  try {
    const name = util.getSystemErrorName(-Math.abs(errno));
    return name.startsWith('Unknown system error') ? undefined : name;
  } catch {
    return undefined;
  }
}

/** A failure stackshot expected and can explain: Node SystemError shape plus reason and hint. */
export class StackshotError extends Error {
  /** Stable errno name: 'ESRCH', 'EPERM', 'EINVAL', 'EBUSY', ... */
  code: string;
  /** Negative errno value, like Node's SystemError (-1 for EPERM). */
  errno: number;
  /** The system call that failed (or would fail): 'ptrace', 'open', ... */
  syscall: string;
  reason: ErrorReason;
  /** One line: what to do about it. */
  hint: string;
  pid?: number;

  constructor(init: StackshotErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'StackshotError';
    this.code = init.code;
    this.errno = errnoOf(init.code);
    this.syscall = init.syscall;
    this.reason = init.reason;
    this.hint = init.hint;
    if (init.pid !== undefined) this.pid = init.pid;
  }
}

export function isStackshotError(err: unknown): err is StackshotError {
  return err instanceof StackshotError;
}

/** Short descriptions of the errno values a capture can end with (strerror is not exposed to JS). */
const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  ESRCH: 'no such process',
  EINTR: 'interrupted system call',
  EIO: 'input/output error',
  EFAULT: 'bad address',
  EBUSY: 'device or resource busy',
  EAGAIN: 'resource temporarily unavailable',
  ENOMEM: 'out of memory',
  EACCES: 'permission denied',
  EINVAL: 'invalid argument',
  ENOSYS: 'function not implemented',
  ETIMEDOUT: 'timed out',
  ECHILD: 'no child processes',
};

function describeErrno(code: string): string {
  return ERRNO_TEXT[code] ?? code;
}

interface RawSystemErrorLike {
  message?: unknown;
  errno?: unknown;
  code?: unknown;
  syscall?: unknown;
}

/**
 * Turn whatever the native capture threw into a StackshotError.
 *
 * A native RawSystemError (positive errno, code, syscall) keeps its code and syscall and gains
 * a reason and a hint; EPERM/EACCES are explained by diagnosePermission(pid) (tracer present,
 * Yama, capabilities, uid, dumpable). A StackshotError passes through unchanged. Anything else
 * (a bug, not a system error) becomes reason 'unknown' with code 'UNKNOWN' and the original as
 * `cause`.
 */
export function toStackshotError(pid: number, err: unknown): StackshotError {
  if (err instanceof StackshotError) return err;

  const raw = (typeof err === 'object' && err !== null ? err : {}) as RawSystemErrorLike;
  let code = typeof raw.code === 'string' && /^E[A-Z0-9]+$/.test(raw.code) ? raw.code : undefined;
  if (code === undefined && typeof raw.errno === 'number') code = errnoName(raw.errno);
  const syscall = typeof raw.syscall === 'string' && raw.syscall !== '' ? raw.syscall : 'ptrace';
  const original = err instanceof Error ? err.message : String(err);

  if (code === undefined) {
    return new StackshotError({
      code: 'UNKNOWN',
      syscall,
      reason: 'unknown',
      message: `snapshot of pid ${pid} failed: ${original}`,
      hint: 'this looks like a bug in stackshot; please report it with the output of `stackshot --version` and `uname -a`',
      pid,
      cause: err,
    });
  }

  if (code === 'EPERM' || code === 'EACCES') {
    const d = diagnosePermission(pid);
    return new StackshotError({
      code,
      syscall,
      reason: d.reason,
      message: `cannot attach to pid ${pid}: ${d.message}`,
      hint: d.hint,
      pid,
      cause: err,
    });
  }

  if (code === 'ESRCH') {
    return new StackshotError({
      code,
      syscall,
      reason: 'no-such-process',
      message: `cannot attach to pid ${pid}: no such process (it exited)`,
      hint: 'the process is gone; list running processes with `ps -e` and try again with a live pid',
      pid,
      cause: err,
    });
  }

  if (code === 'EBUSY') {
    return new StackshotError({
      code,
      syscall,
      reason: 'unknown',
      message: `cannot attach to pid ${pid}: ${syscall} failed: ${describeErrno(code)}`,
      hint: 'another tool may be stopping the process right now; try again',
      pid,
      cause: err,
    });
  }

  return new StackshotError({
    code,
    syscall,
    reason: 'unknown',
    message: `snapshot of pid ${pid} failed: ${syscall}: ${describeErrno(code)}`,
    hint: 'unexpected system error; check `dmesg` and security policies (seccomp, AppArmor, SELinux) that may restrict ptrace',
    pid,
    cause: err,
  });
}
