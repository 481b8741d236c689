// `stackshot doctor [pid]`: a preflight that says whether snapshots can work here (and of pid),
// and exactly what to change when they cannot. Reads /proc only; never calls ptrace, so it is
// safe to run against anything. The kernel's rules, and their texts, are procfs/ptrace-rules.ts's.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { addonLoadError, binding } from './addon';
import { blockedPathCheck, capturePathsSummary } from './capture/doctor-checks';
import { perfEventsCheck } from './doctor-perf';
import type { ErrorReason } from './errors';
import { StackshotError } from './errors';
import { checkTarget } from './procfs/preflight';
import { describePythonProbe, probePythonFrames } from './runtimes/cpython/probe';
import { v8Readability } from './audit/runtime';
import { NODE_JIT_NAMES_FIX } from './symbolize/jit-hint';
import { leftByEarlierProcess } from './symbolize/perf-map';
import { isArch } from './types';
import { gatherPermissionFacts, readComm, readYamaScope, YAMA_PTRACE_SCOPE_FILE } from './procfs/permissions';
import { readProcStatus, type ProcStatus } from './procfs/proc-status';
import {
  CAP_SYS_PTRACE,
  CONTAINER_HINT,
  explainPermission,
  hasCapability,
  SECCOMP_HINT,
  SUDO_HINT,
  yamaVerdict,
  type PermissionFacts,
} from './procfs/ptrace-rules';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'info';

/** What a doctor check is about: stable, programs may branch on it. */
export type CheckId =
  | 'platform'
  | 'addon'
  | 'yama'
  | 'capability'
  | 'capability-note'
  | 'seccomp'
  | 'perf-events'
  | 'pid-namespace'
  | 'target'
  | 'tracer'
  | 'permission'
  | 'maps'
  | 'perf-map'
  | 'python'
  | 'capture-blocked'
  | 'capture-paths';

export interface DoctorCheck {
  id: CheckId;
  status: CheckStatus;
  /** One line: what was found. */
  detail: string;
  /** What to change (present for warn and fail). */
  fix?: string;
  /** For failures that a snapshot would report as a StackshotError: its code and reason. */
  code?: string;
  reason?: ErrorReason;
}

export interface DoctorReport {
  /** The pid examined (the process id, when a thread id was given), if any. */
  pid?: number;
  /** No check failed: snapshots should work (of pid, when given). */
  ok: boolean;
  checks: DoctorCheck[];
}

const CAP_SYS_ADMIN = 21;

/** `Key:\tvalue` lines of a /proc status file, raw (readProcStatus keeps only some). */
function statusFields(pid: number | 'self'): Map<string, string> {
  const out = new Map<string, string>();
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) out.set(line.slice(0, colon), line.slice(colon + 1).trim());
    }
  } catch {
    // gone, or /proc missing: callers check what they need
  }
  return out;
}

function hexCaps(v: string | undefined): bigint {
  return v !== undefined && /^[0-9a-fA-F]+$/.test(v) ? BigInt('0x' + v) : 0n;
}

function platformCheck(): DoctorCheck {
  if (process.platform !== 'linux') {
    return {
      id: 'platform',
      status: 'fail',
      detail: `platform ${process.platform}: stackshot works on Linux only`,
      fix: 'run stackshot on Linux (x86-64 or aarch64)',
    };
  }
  if (!fs.existsSync('/proc/self/status')) {
    return {
      id: 'platform',
      status: 'fail',
      detail: '/proc is not mounted',
      fix: 'mount procfs: sudo mount -t proc proc /proc',
    };
  }
  return isArch(process.arch)
    ? { id: 'platform', status: 'ok', detail: `Linux ${process.arch}, node ${process.version}` }
    : {
        id: 'platform',
        status: 'fail',
        detail: `architecture ${process.arch} is not supported`,
        fix: 'use an x86-64 or aarch64 machine',
      };
}

function addonCheck(): DoctorCheck {
  const e = addonLoadError();
  if (e === null) return { id: 'addon', status: 'ok', detail: `native addon loaded (${binding.arch})` };
  return {
    id: 'addon',
    status: 'fail',
    detail: `the native addon does not load: ${e.message.split('\n')[0]}`,
    fix: 'rebuild it: npm rebuild stackshot (needs g++, make and python3), or reinstall on this platform',
  };
}

function capabilityCheck(cap: boolean, bounding: bigint, uid: number): DoctorCheck {
  if (cap)
    return {
      id: 'capability',
      status: 'ok',
      detail: `CAP_SYS_PTRACE is effective (uid ${uid}): any process may be inspected`,
    };
  const inBounding = hasCapability(bounding, CAP_SYS_PTRACE);
  return {
    id: 'capability',
    status: 'warn',
    detail: `no CAP_SYS_PTRACE (uid ${uid}): only processes of uid ${uid} that are dumpable can be inspected${inBounding ? '' : '; it is not even in the bounding set (container?)'}`,
    fix: inBounding ? SUDO_HINT : CONTAINER_HINT,
  };
}

function yamaCheck(scope: number | null, cap: boolean): DoctorCheck {
  const v = yamaVerdict(scope, cap);
  const detail = scope === null ? `${v.text} (no ${YAMA_PTRACE_SCOPE_FILE})` : v.text;
  if (v.allows === 'any') return { id: 'yama', status: 'ok', detail };
  const refused = v.allows === 'none';
  return {
    id: 'yama',
    status: refused ? 'fail' : 'warn',
    detail,
    ...(v.hint === undefined ? {} : { fix: v.hint }),
    ...(refused ? { code: 'EPERM' } : {}),
    reason: 'yama',
  };
}

function seccompCheck(self: Map<string, string>): DoctorCheck {
  const mode = self.get('Seccomp');
  if (mode === undefined)
    return { id: 'seccomp', status: 'info', detail: 'seccomp state unknown (no Seccomp: line in /proc/self/status)' };
  if (mode === '0') return { id: 'seccomp', status: 'ok', detail: 'Seccomp: 0 (no filter on this process)' };
  const filters = self.get('Seccomp_filters');
  return {
    id: 'seccomp',
    status: 'warn',
    detail: `Seccomp: ${mode} (${mode === '2' ? `filter mode${filters ? `, ${filters} filter(s)` : ''}` : 'strict mode'}): a filter may refuse ptrace (snapshots then fail with EPERM) or process_vm_readv (stacks are then read through /proc/<pid>/mem)`,
    fix: SECCOMP_HINT,
  };
}

/** NSpid: the pid in each pid namespace from the outermost in; length > 1 means a nested namespace. */
function nsPids(fields: Map<string, string>): number[] {
  return (fields.get('NSpid') ?? '').split(/\s+/).filter(Boolean).map(Number);
}

function namespaceCheck(self: Map<string, string>, target?: Map<string, string>, pid?: number): DoctorCheck {
  const mine = nsPids(self);
  if (target === undefined) {
    return mine.length > 1
      ? {
          id: 'pid-namespace',
          status: 'info',
          detail: `we run in a nested pid namespace (NSpid ${mine.join(' ')}): only processes in this namespace and below are visible`,
        }
      : { id: 'pid-namespace', status: 'ok', detail: 'we run in the initial pid namespace' };
  }
  const theirs = nsPids(target);
  if (theirs.length > mine.length) {
    return {
      id: 'pid-namespace',
      status: 'info',
      detail: `pid ${pid} is ${theirs[theirs.length - 1]} inside its own pid namespace (NSpid ${theirs.join(' ')}): a container; its files are read through /proc/${pid}/root`,
    };
  }
  return { id: 'pid-namespace', status: 'ok', detail: `pid ${pid} is in our pid namespace` };
}

function perfMapCheck(pid: number, target: Map<string, string>): DoctorCheck {
  const ns = nsPids(target);
  const inner = ns.length > 0 ? ns[ns.length - 1] : pid;
  const candidates = [`/tmp/perf-${pid}.map`];
  if (inner !== pid) candidates.push(`/proc/${pid}/root/tmp/perf-${inner}.map`);
  const found = candidates.find((f) => {
    try {
      const st = fs.statSync(f);
      return st.isFile() && !leftByEarlierProcess(pid, st.mtimeMs);
    } catch {
      return false;
    }
  });
  const comm = readComm(pid) ?? '';
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    /* unreadable: judged by comm */
  }
  const isNode =
    /(^|\/)(node|nodejs|bun|deno)(\s|$)/.test(path.basename(exe) + ' ') ||
    /^(node|nodejs)$/.test(comm) ||
    /^MainThread$/.test(comm);
  if (found !== undefined) {
    const st = fs.statSync(found);
    const where =
      inner !== pid && found.startsWith('/proc/')
        ? ' (inside the container; stackshot reads /tmp/perf-<pid>.map of the host pid only)'
        : '';
    return {
      id: 'perf-map',
      status: where ? 'warn' : 'ok',
      detail: `perf map ${found} (${st.size} bytes): JIT frames get names${where}`,
      ...(where ? { fix: `copy or bind-mount it to /tmp/perf-${pid}.map on this side` } : {}),
    };
  }
  if (isNode) {
    const v8 = v8Readability(pid);
    if (v8.readable) {
      const detail =
        `no /tmp/perf-${pid}.map, none needed: ` +
        `JavaScript frames are named from V8's own metadata (V8 ${v8.version})`;
      return { id: 'perf-map', status: 'ok', detail };
    }
    return {
      id: 'perf-map',
      status: 'warn',
      detail:
        `no /tmp/perf-${pid}.map and V8 frames not readable (${v8.reason}): ` +
        'JavaScript frames will show as addresses in [anon] memory',
      fix: NODE_JIT_NAMES_FIX,
    };
  }
  return {
    id: 'perf-map',
    status: 'info',
    detail: `no /tmp/perf-${pid}.map (only JIT runtimes write one; native code does not need it)`,
  };
}

/** For a Python process: whether its frames will be named from the interpreter's memory. */
function pythonCheck(pid: number): DoctorCheck | null {
  const probe = probePythonFrames(pid);
  if (probe === null) return null;
  const detail = describePythonProbe(probe);
  if (probe.readable) return { id: 'python', status: 'ok', detail };
  const fix =
    probe.reason === 'python-version-unsupported' || probe.reason === 'python-version-unknown'
      ? 'Python frames are read for CPython 3.11, 3.12 and 3.13; other versions show only native frames (py-spy covers older ones)'
      : 'native frames are still named; check that the interpreter exports _PyRuntime and that its memory is readable (same user or root)';
  return { id: 'python', status: 'warn', detail, fix };
}

/** The target: a live user-space process and the facts that decide its ptrace permission. */
type Examined =
  { tgid: number; facts: PermissionFacts & { target: ProcStatus } } | { failed: DoctorCheck; pid: number };

function examineTarget(pid: number): Examined {
  let tgid: number;
  try {
    tgid = checkTarget(pid);
  } catch (e) {
    const err = e as StackshotError;
    const failed: DoctorCheck = { id: 'target', status: 'fail', detail: err.message, fix: err.hint };
    return { failed: { ...failed, code: err.code, reason: err.reason }, pid };
  }
  const facts = gatherPermissionFacts(tgid);
  const t = facts.target;
  if (t === null) {
    const detail = `pid ${tgid} exited while being examined`;
    const fix = 'try again with a live pid';
    return {
      failed: { id: 'target', status: 'fail', detail, fix, code: 'ESRCH', reason: 'no-such-process' },
      pid: tgid,
    };
  }
  return { tgid, facts: { ...facts, target: t } };
}

function tracerCheck(facts: PermissionFacts & { target: ProcStatus }): DoctorCheck {
  if (facts.target.tracerPid === 0) {
    return { id: 'tracer', status: 'ok', detail: 'not traced by anyone (no debugger, strace or profiler attached)' };
  }
  const d = explainPermission(facts);
  return { id: 'tracer', status: 'fail', detail: d.message, fix: d.hint, code: 'EPERM', reason: 'already-traced' };
}

/** Uid, capabilities, dumpable, Yama against this target: the rules a refusal is explained by. */
function permissionCheck(facts: PermissionFacts & { target: ProcStatus }, cap: boolean): DoctorCheck {
  const d = explainPermission({ ...facts, target: { ...facts.target, tracerPid: 0 } });
  if (d.reason !== 'unknown') {
    return { id: 'permission', status: 'fail', detail: d.message, fix: d.hint, code: 'EPERM', reason: d.reason };
  }
  const how = cap
    ? 'we have CAP_SYS_PTRACE'
    : `same uid (${facts.self.uid})${facts.dumpable === false ? '' : ', dumpable'}`;
  const descendant = facts.yamaScope === 1 && !cap ? ', and it is our descendant' : '';
  return { id: 'permission', status: 'ok', detail: `the kernel's ptrace rules allow it: ${how}${descendant}` };
}

/** Reading maps passes the same access check as attaching: a direct, harmless test. */
function mapsCheck(tgid: number, permission: DoctorCheck): DoctorCheck {
  try {
    fs.readFileSync(`/proc/${tgid}/maps`, 'utf8');
    return { id: 'maps', status: 'ok', detail: `/proc/${tgid}/maps is readable` };
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const explained = permission.status === 'fail';
    return {
      id: 'maps',
      status: 'fail',
      detail: `/proc/${tgid}/maps cannot be read (${code}): the kernel refuses ptrace-read access`,
      fix: explained ? permission.fix! : 'an LSM (AppArmor, SELinux) may deny it; check `dmesg` and the audit log',
      code: 'EPERM',
      reason: explained ? permission.reason! : 'unknown',
    };
  }
}

function targetChecks(pid: number, cap: boolean): { pid: number; checks: DoctorCheck[] } {
  const examined = examineTarget(pid);
  if ('failed' in examined) return { pid: examined.pid, checks: [examined.failed] };
  const { tgid, facts } = examined;
  const t = facts.target;
  const comm = readComm(tgid) ?? '?';
  const detail = `pid ${tgid} (${comm}) is a live user-space process, uid ${t.uid[0]}, state ${t.state}`;
  const permission = permissionCheck(facts, cap);
  const checks: DoctorCheck[] = [
    { id: 'target', status: 'ok', detail },
    tracerCheck(facts),
    permission,
    mapsCheck(tgid, permission),
  ];
  const fields = statusFields(tgid);
  checks.push(namespaceCheck(statusFields('self'), fields, tgid));
  checks.push(perfMapCheck(tgid, fields));
  const python = pythonCheck(tgid);
  if (python !== null) checks.push(python);
  return { pid: tgid, checks };
}

/**
 * Preflight: can stackshot work here, and (with pid) can it snapshot pid? Reads /proc only.
 * Never throws for a bad or vanished pid: that is a failed check.
 */
export function doctor(pid?: number): DoctorReport {
  const checks: DoctorCheck[] = [platformCheck()];
  if (checks[0].status === 'fail') return { ok: false, checks };
  checks.push(addonCheck());

  const me = readProcStatus('self');
  const self = statusFields('self');
  const cap = hasCapability(me.capEff, CAP_SYS_PTRACE);
  checks.push(capabilityCheck(cap, hexCaps(self.get('CapBnd')), me.uid[0]!));
  checks.push(yamaCheck(readYamaScope(), cap));
  checks.push(seccompCheck(self));
  if (hasCapability(me.capEff, CAP_SYS_ADMIN) && !cap) {
    checks.push({
      id: 'capability-note',
      status: 'info',
      detail: 'CAP_SYS_ADMIN without CAP_SYS_PTRACE: the capability set looks trimmed on purpose (container runtime?)',
    });
  }

  let examined: number | undefined;
  if (checks[1].status === 'ok') checks.push(perfEventsCheck(pid));
  if (pid === undefined) {
    checks.push(namespaceCheck(self));
  } else {
    const t = targetChecks(pid, cap);
    examined = t.pid;
    checks.push(...t.checks);
  }
  // Which capture paths are open (the stop-free ones need no more than ptrace-read access).
  const pathChecks = [blockedPathCheck(examined)];
  checks.push(...pathChecks, capturePathsSummary(pathChecks, !checks.some((c) => c.status === 'fail')));
  return { ...(examined === undefined ? {} : { pid: examined }), ok: !checks.some((c) => c.status === 'fail'), checks };
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', info: 'info' };

/** The report as text: one line per check, then `fix:` lines, then a verdict. */
export function formatDoctor(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.id.length));
  const lines: string[] = [];
  for (const c of r.checks) {
    lines.push(`[${MARK[c.status]}] ${c.id.padEnd(width)}  ${c.detail}`);
    if (c.fix !== undefined && (c.status === 'fail' || c.status === 'warn'))
      lines.push(`       ${' '.repeat(width)}  fix: ${c.fix}`);
  }
  const failed = r.checks.filter((c) => c.status === 'fail').length;
  const warned = r.checks.filter((c) => c.status === 'warn').length;
  const what = r.pid === undefined ? 'snapshots should work here' : `pid ${r.pid} can be snapshotted`;
  lines.push(
    failed === 0
      ? `${what}${warned ? ` (${warned} warning${warned > 1 ? 's' : ''})` : ''}`
      : `${failed} check${failed > 1 ? 's' : ''} failed: ${r.pid === undefined ? 'snapshots will not work here' : `pid ${r.pid} cannot be snapshotted`} until fixed`,
  );
  return lines.join('\n') + '\n';
}

/** The error a failed report turns into for the CLI (exit status 1, first failure's fix as hint). */
export function doctorError(r: DoctorReport): StackshotError | null {
  const first = r.checks.find((c) => c.status === 'fail');
  if (first === undefined) return null;
  const n = r.checks.filter((c) => c.status === 'fail').length;
  return new StackshotError({
    code: first.code ?? 'EPERM',
    syscall: 'ptrace',
    reason: first.reason ?? 'unknown',
    message: `doctor: ${n} check${n > 1 ? 's' : ''} failed (first: ${first.id}: ${first.detail})`,
    hint: first.fix ?? 'see the report above',
    ...(r.pid === undefined ? {} : { pid: r.pid }),
  });
}
