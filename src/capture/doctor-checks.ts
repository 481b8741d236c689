// What `stackshot doctor` says about the capture paths (src/doctor.ts): which ones this machine
// (and a target) allows. Reads /proc only; nothing here stops or signals a thread.
import * as fs from 'node:fs';

import type { DoctorCheck } from '../doctor';
import type { CapturePath } from '../types';

function read(file: string): { text: string } | { code: string } {
  try {
    return { text: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    return { code: (e as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** The third schedstat field: switches onto a CPU; 0 or absent when the kernel keeps no scheduler statistics. */
function timeslices(text: string): number {
  const fields = text.trim().split(/\s+/);
  return fields.length === 3 ? Number(fields[2]) : 0;
}

/**
 * The blocked path reads /proc/<pid>/task/<tid>/syscall (pc and sp of a sleeping thread; the
 * same access check as PTRACE_ATTACH) and schedstat (its switch count proves the copy
 * consistent). Without pid, our own process stands in for "this kernel".
 */
export function blockedPathCheck(pid?: number): DoctorCheck {
  const task = pid === undefined ? `/proc/self/task/${process.pid}` : `/proc/${pid}/task/${pid}`;
  const sys = read(`${task}/syscall`);
  if ('code' in sys) {
    const refused = sys.code === 'EACCES' || sys.code === 'EPERM';
    return {
      id: 'capture-blocked',
      status: 'warn',
      detail: refused
        ? `${task}/syscall cannot be read (${sys.code}): blocked threads cannot be read without a stop`
        : `${task}/syscall is missing (${sys.code}): this kernel does not report a sleeping thread's registers, so blocked threads are stopped too`,
      fix: refused
        ? 'the same access as ptrace is needed: see the permission checks'
        : 'a kernel with CONFIG_HAVE_ARCH_TRACEHOOK (every mainstream x86-64 and aarch64 kernel has it)',
    };
  }
  const sched = read(`${task}/schedstat`);
  if ('code' in sched || timeslices(sched.text) === 0) {
    return {
      id: 'capture-blocked',
      status: 'warn',
      detail: `${task}/schedstat ${'code' in sched ? `is missing (${sched.code})` : 'counts no switches'}: without scheduler statistics a stop-free copy cannot be proven consistent, so blocked threads are stopped too`,
      fix: 'a kernel with CONFIG_SCHED_INFO (set by CONFIG_SCHEDSTATS or CONFIG_TASK_DELAY_ACCT)',
    };
  }
  return {
    id: 'capture-blocked',
    status: 'ok',
    detail: `threads asleep in a system call are read without a stop (${task}/syscall and schedstat are readable)`,
  };
}

/** One line naming the paths snapshots may take here, from the per-path checks (ids 'capture-<path>'). */
export function capturePathsSummary(pathChecks: DoctorCheck[], ptraceAllowed: boolean): DoctorCheck {
  const stopFree = pathChecks.filter((c) => c.status === 'ok').map((c) => c.id.replace(/^capture-/, '') as CapturePath);
  const allowed: CapturePath[] = [...stopFree, ...(ptraceAllowed ? (['ptrace'] as const) : [])];
  if (allowed.length === 0)
    return {
      id: 'capture-paths',
      status: 'info',
      detail: 'no capture path is allowed until the failures above are fixed',
    };
  const rest = ptraceAllowed
    ? 'every other thread is stopped with ptrace for its copy (≈ 10-80 µs)'
    : 'ptrace is refused: threads no stop-free path serves cannot be captured';
  return {
    id: 'capture-paths',
    status: 'info',
    detail: `capture paths allowed: ${allowed.join(', ')} (${stopFree.length ? `stop-free: ${stopFree.join(', ')}; ` : ''}${rest})`,
  };
}
