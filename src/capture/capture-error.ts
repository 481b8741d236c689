// A native capture failure (RawSystemError: errno, code, syscall) turned into a StackshotError
// with a reason and a hint; a refusal (EPERM) is explained by the ptrace rules.
import { errnoName, StackshotError } from '../errors';
import { diagnosePermission } from '../procfs/permissions';

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
