// Errors that stackshot throws for expected failures (bad pid, no such process, ptrace refused,
// ...). They have the shape of Node's SystemError (code, errno, syscall) plus a `reason` a
// program can branch on and a one-line `hint` that says what to do about it.
import * as os from 'node:os';
import * as util from 'node:util';

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
