// Why the kernel refuses PTRACE_SEIZE on a process, found from /proc alone (no ptrace calls).
//
// The kernel's checks (kernel/ptrace.c __ptrace_may_access, security/yama, commoncap), in the
// order we report them:
//   1. a task has at most one tracer: TracerPid != 0 → refused (EPERM), whatever our privileges;
//   2. Yama (kernel.yama.ptrace_scope): 1 = only descendants (or PR_SET_PTRACER), 2 = only with
//      CAP_SYS_PTRACE, 3 = never;
//   3. without CAP_SYS_PTRACE our real uid/gid must equal the target's real, effective and saved
//      uid/gid, and our permitted capabilities must include the target's;
//   4. without CAP_SYS_PTRACE the target must be dumpable.
// gatherPermissionFacts() reads the facts, explainPermission() (pure) decides.
import * as fs from 'node:fs';
import type { ErrorReason } from '../errors';

/** Linux capability number of CAP_SYS_PTRACE (bit 19 of CapEff). */
export const CAP_SYS_PTRACE = 19;

/** The fields of /proc/<pid>/status that stackshot uses. */
export interface ProcStatus {
  /** Name: the comm (may be truncated to 15 bytes). */
  name: string;
  /** State letter: R, S, D, T, t, Z, X, I, ... */
  state: string;
  tgid: number;
  pid: number;
  ppid: number;
  /** Pid of the process tracing this task, 0 if none. */
  tracerPid: number;
  /** Real, effective, saved, filesystem uid. */
  uid: number[];
  /** Real, effective, saved, filesystem gid. */
  gid: number[];
  capPrm: bigint;
  capEff: bigint;
  /** From the `Kthread:` line (Linux ≥ 6.1); undefined on older kernels. */
  kthread?: boolean;
}

/** Parse the text of /proc/<pid>/status. Throws on text that lacks the basic fields. */
export function parseProcStatus(text: string): ProcStatus {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1).trim());
  }
  const int = (key: string): number => {
    const v = fields.get(key);
    if (v === undefined || !/^-?\d+$/.test(v)) throw new Error(`/proc status: missing or bad ${key}`);
    return Number(v);
  };
  const ids = (key: string): number[] => {
    const v = fields.get(key);
    const parts = v === undefined ? [] : v.split(/\s+/).map(Number);
    if (parts.length < 4 || parts.some((n) => !Number.isInteger(n))) {
      throw new Error(`/proc status: missing or bad ${key}`);
    }
    return parts.slice(0, 4);
  };
  const caps = (key: string): bigint => {
    const v = fields.get(key);
    return v !== undefined && /^[0-9a-fA-F]+$/.test(v) ? BigInt('0x' + v) : 0n;
  };
  const kthread = fields.get('Kthread');
  return {
    name: fields.get('Name') ?? '',
    state: (fields.get('State') ?? '?').charAt(0),
    tgid: int('Tgid'),
    pid: int('Pid'),
    ppid: int('PPid'),
    tracerPid: int('TracerPid'),
    uid: ids('Uid'),
    gid: ids('Gid'),
    capPrm: caps('CapPrm'),
    capEff: caps('CapEff'),
    ...(kthread === undefined ? {} : { kthread: kthread === '1' }),
  };
}

/** Read and parse /proc/<pid>/status ('self' for this process). Throws the fs error (ENOENT, ...). */
export function readProcStatus(pid: number | 'self'): ProcStatus {
  return parseProcStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
}

export function hasCapability(capEff: bigint, cap: number): boolean {
  return ((capEff >> BigInt(cap)) & 1n) === 1n;
}

export const YAMA_PTRACE_SCOPE_FILE = '/proc/sys/kernel/yama/ptrace_scope';

/** The Yama ptrace scope (0–3), or null when Yama is not enabled (the file does not exist). */
export function readYamaScope(file: string = YAMA_PTRACE_SCOPE_FILE): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
  return /^\d+$/.test(text) ? Number(text) : null;
}

/** The comm of a process, or null if it is gone. */
export function readComm(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return null;
  }
}

/** User name for a uid from /etc/passwd, or null. */
export function userName(uid: number): string | null {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f.length > 2 && Number(f[2]) === uid && f[2] !== '') return f[0] ?? null;
    }
  } catch {
    // no passwd file (minimal containers)
  }
  return null;
}

/** Everything explainPermission() needs, read from /proc. */
export interface PermissionFacts {
  pid: number;
  /** The target's status, or null when it is gone. */
  target: ProcStatus | null;
  /** The tracer's comm when target.tracerPid != 0 (null if unreadable). */
  tracerComm: string | null;
  /** Yama ptrace_scope, null when Yama is not enabled. */
  yamaScope: number | null;
  self: { pid: number; uid: number; gid: number; capPrm: bigint; capEff: bigint };
  /** True when the target descends from this process (Yama scope 1 allows that). */
  isDescendant: boolean;
  /** False when the target is known to be non-dumpable, null when that cannot be told. */
  dumpable: boolean | null;
  /** User names for uids in messages (uid → name). */
  userNames?: Map<number, string>;
}

export interface PermissionDiagnosis {
  reason: ErrorReason;
  /** What is refused and why, without the leading "cannot attach to pid N: ". */
  message: string;
  /** One line: what to do. */
  hint: string;
}

/** True when `ancestor` is on the parent chain of `pid` (bounded walk through /proc). */
function descendsFrom(pid: number, ancestor: number): boolean {
  let cur = pid;
  for (let i = 0; i < 4096 && cur > 1; i++) {
    let st: ProcStatus;
    try {
      st = readProcStatus(cur);
    } catch {
      return false;
    }
    if (st.ppid === ancestor) return true;
    cur = st.ppid;
  }
  return false;
}

/**
 * Whether the kernel considers the target dumpable. The files in /proc/<pid>/ belong to the
 * task's effective uid only while it is dumpable (SUID_DUMP_USER), otherwise to root (kernel
 * task_dump_owner; the /proc/<pid> directory itself keeps its owner). When the target's euid
 * is 0 the two cannot be told apart: null.
 */
function readDumpable(pid: number, target: ProcStatus): boolean | null {
  const euid = target.uid[1]!;
  if (euid === 0) return null;
  try {
    return fs.statSync(`/proc/${pid}/status`).uid === euid;
  } catch {
    return null;
  }
}

/** Read the facts about pid and about ourselves that decide whether ptrace is allowed. */
export function gatherPermissionFacts(pid: number): PermissionFacts {
  let target: ProcStatus | null;
  try {
    target = readProcStatus(pid);
  } catch {
    target = null;
  }
  const me = readProcStatus('self');
  const names = new Map<number, string>();
  for (const uid of [me.uid[0]!, ...(target ? target.uid : [])]) {
    if (!names.has(uid)) {
      const n = userName(uid);
      if (n !== null) names.set(uid, n);
    }
  }
  return {
    pid,
    target,
    tracerComm: target && target.tracerPid !== 0 ? readComm(target.tracerPid) : null,
    yamaScope: readYamaScope(),
    self: { pid: process.pid, uid: me.uid[0]!, gid: me.gid[0]!, capPrm: me.capPrm, capEff: me.capEff },
    isDescendant: target ? descendsFrom(target.tgid, process.pid) : false,
    dumpable: target ? readDumpable(pid, target) : null,
    userNames: names,
  };
}

const SUDO_HINT = 'run stackshot as root (sudo) or give it CAP_SYS_PTRACE';
const CONTAINER_HINT =
  'in a container: --cap-add SYS_PTRACE (docker/podman) or SYS_PTRACE in securityContext.capabilities.add (Kubernetes)';

/** Decide, from gathered facts only, why ptrace is refused. Pure. */
export function explainPermission(f: PermissionFacts): PermissionDiagnosis {
  const t = f.target;
  if (t === null) {
    return {
      reason: 'unknown',
      message: 'operation not permitted (and the process has exited since)',
      hint: 'the process is gone; try again with a live pid',
    };
  }
  const who = (uid: number): string => {
    const n = f.userNames?.get(uid);
    return n === undefined ? `uid ${uid}` : `uid ${uid} (${n})`;
  };

  // 1. One tracer per task: nobody, not even root, can attach while another tracer is there.
  if (t.tracerPid !== 0) {
    const tracer = f.tracerComm === null ? `pid ${t.tracerPid}` : `pid ${t.tracerPid} (${f.tracerComm})`;
    const self = t.tracerPid === f.self.pid ? ' — this process' : '';
    return {
      reason: 'already-traced',
      message: `already traced by ${tracer}${self}`,
      hint: `a process can have only one tracer: detach or quit ${tracer} (debugger, strace, profiler), then try again`,
    };
  }

  const cap = hasCapability(f.self.capEff, CAP_SYS_PTRACE);

  // 2. Yama.
  if (f.yamaScope === 3) {
    return {
      reason: 'yama',
      message: 'kernel.yama.ptrace_scope is 3: ptrace attach is disabled for everyone',
      hint: 'scope 3 cannot be lowered at run time: set kernel.yama.ptrace_scope to 0, 1 or 2 in /etc/sysctl.d and reboot',
    };
  }
  if (f.yamaScope === 2 && !cap) {
    return {
      reason: 'yama',
      message: 'kernel.yama.ptrace_scope is 2: only processes with CAP_SYS_PTRACE may attach, and we lack it',
      hint: `${SUDO_HINT}, or lower the scope: sudo sysctl kernel.yama.ptrace_scope=1 (or 0)`,
    };
  }
  if (f.yamaScope === 1 && !cap && !f.isDescendant) {
    return {
      reason: 'yama',
      message: `kernel.yama.ptrace_scope is 1: only descendants may be traced, and pid ${f.pid} is not ours`,
      hint: `${SUDO_HINT}, or allow it system-wide: sudo sysctl kernel.yama.ptrace_scope=0, or have the target call prctl(PR_SET_PTRACER, <our pid>)`,
    };
  }

  if (!cap) {
    // 3. Credentials: our real uid/gid against the target's real, effective and saved ones.
    const foreignUid = t.uid.slice(0, 3).find((u) => u !== f.self.uid);
    if (foreignUid !== undefined) {
      if (f.self.uid === 0) {
        return {
          reason: 'no-capability',
          message: `it runs as ${who(foreignUid)} and we are root without CAP_SYS_PTRACE`,
          hint: `root needs CAP_SYS_PTRACE to trace other users' processes; ${CONTAINER_HINT}`,
        };
      }
      return {
        reason: 'other-uid',
        message: `it runs as ${who(foreignUid)}, we run as ${who(f.self.uid)} without CAP_SYS_PTRACE`,
        hint:
          foreignUid === 0 ? 'run stackshot as root (sudo)' : `run stackshot as ${who(foreignUid)} or as root (sudo)`,
      };
    }
    const foreignGid = t.gid.slice(0, 3).find((g) => g !== f.self.gid);
    if (foreignGid !== undefined) {
      return {
        reason: 'other-uid',
        message: `it runs with gid ${foreignGid} (setgid?), we run with gid ${f.self.gid} without CAP_SYS_PTRACE`,
        hint: `${SUDO_HINT}`,
      };
    }
    const extra = t.capPrm & ~f.self.capPrm;
    if (extra !== 0n) {
      return {
        reason: 'no-capability',
        message: `it holds capabilities we do not have (0x${extra.toString(16)}) and we lack CAP_SYS_PTRACE`,
        hint: `${SUDO_HINT}; ${CONTAINER_HINT}`,
      };
    }
    // 4. Dumpable.
    if (f.dumpable === false) {
      return {
        reason: 'not-dumpable',
        message: 'it is not dumpable (setuid/setgid binary or prctl(PR_SET_DUMPABLE, 0)) and we lack CAP_SYS_PTRACE',
        hint: `only a tracer with CAP_SYS_PTRACE may attach to a non-dumpable process: ${SUDO_HINT}`,
      };
    }
  }

  return {
    reason: 'unknown',
    message: cap
      ? 'operation not permitted, although we have CAP_SYS_PTRACE'
      : 'operation not permitted for a reason stackshot could not determine',
    hint: 'ptrace may be blocked by seccomp (docker: --security-opt seccomp=unconfined), AppArmor or SELinux, or the process runs in another user namespace; check `dmesg`',
  };
}

/** Why ptrace of pid would be refused: already traced, Yama, uid/capabilities, dumpable, or unknown. */
export function diagnosePermission(pid: number): PermissionDiagnosis {
  let facts: PermissionFacts;
  try {
    facts = gatherPermissionFacts(pid);
  } catch {
    return {
      reason: 'unknown',
      message: 'operation not permitted',
      hint: 'could not read /proc to find out why; is /proc mounted?',
    };
  }
  return explainPermission(facts);
}
