// The kernel's ptrace attach rules and what stackshot says about each: the one owner of those
// decisions and their texts. explainPermission() explains a refusal of one target; doctor
// describes the same rules for this machine (yamaVerdict) and a target (explainPermission).
//
// The kernel's checks (kernel/ptrace.c __ptrace_may_access, security/yama, commoncap), in the
// order we report them:
//   1. a task has at most one tracer: TracerPid != 0 → refused (EPERM), whatever our privileges;
//   2. Yama (kernel.yama.ptrace_scope): 1 = only descendants (or PR_SET_PTRACER), 2 = only with
//      CAP_SYS_PTRACE, 3 = never;
//   3. without CAP_SYS_PTRACE our real uid/gid must equal the target's real, effective and saved
//      uid/gid, and our permitted capabilities must include the target's;
//   4. without CAP_SYS_PTRACE the target must be dumpable.
// Pure: the facts are read by procfs/permissions.ts.
import type { ErrorReason } from '../errors';
import type { ProcStatus } from './proc-status';

/** Linux capability number of CAP_SYS_PTRACE (bit 19 of CapEff). */
export const CAP_SYS_PTRACE = 19;

export function hasCapability(capEff: bigint, cap: number): boolean {
  return ((capEff >> BigInt(cap)) & 1n) === 1n;
}

/** What to do when CAP_SYS_PTRACE is missing. */
export const SUDO_HINT =
  'run stackshot as root (sudo) or give node CAP_SYS_PTRACE (sudo setcap cap_sys_ptrace+ep "$(readlink -f "$(which node)")")';
/** What to do when the capability is not even in the bounding set (a container). */
export const CONTAINER_HINT =
  'in a container: docker/podman run --cap-add SYS_PTRACE, Kubernetes securityContext.capabilities.add: ["SYS_PTRACE"]';
/** What to do when a seccomp filter may refuse ptrace or process_vm_readv. */
export const SECCOMP_HINT =
  'docker/podman: --security-opt seccomp=unconfined, or a profile that allows ptrace and process_vm_readv (Docker >= 19.03 allows them with CAP_SYS_PTRACE); Kubernetes: seccompProfile type Unconfined';
/** What to do when nothing in /proc explains a refusal. */
export const UNEXPLAINED_HINT = `ptrace may be blocked by seccomp (${SECCOMP_HINT}), AppArmor or SELinux, or the process runs in another user namespace; check \`dmesg\``;

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

/** Whom Yama lets this tracer attach to. */
export type YamaAllows = 'any' | 'descendants' | 'none';

export interface YamaVerdict {
  allows: YamaAllows;
  /** What the scope means for us. */
  text: string;
  /** What to do (when it restricts us). */
  hint?: string;
}

/** What Yama's ptrace_scope (null: Yama not enabled) allows a tracer with or without CAP_SYS_PTRACE. */
export function yamaVerdict(scope: number | null, cap: boolean): YamaVerdict {
  const is = `kernel.yama.ptrace_scope is ${scope}`;
  if (scope === null) return { allows: 'any', text: 'Yama is not enabled' };
  if (scope === 0) return { allows: 'any', text: `${is}: same-uid processes may be traced` };
  if (scope === 1 && cap) return { allows: 'any', text: `${is} (descendants only), but CAP_SYS_PTRACE overrides it` };
  if (scope === 1) {
    return {
      allows: 'descendants',
      text: `${is}: without CAP_SYS_PTRACE only our own descendants may be traced`,
      hint: `${SUDO_HINT}; or allow it system-wide: sudo sysctl kernel.yama.ptrace_scope=0; or have the target call prctl(PR_SET_PTRACER, <stackshot pid>)`,
    };
  }
  if (scope === 2 && cap) return { allows: 'any', text: `${is} (admin only), and we have CAP_SYS_PTRACE` };
  if (scope === 2) {
    return {
      allows: 'none',
      text: `${is}: only processes with CAP_SYS_PTRACE may attach, and we lack it`,
      hint: `${SUDO_HINT}; or lower the scope: sudo sysctl kernel.yama.ptrace_scope=1 (or 0)`,
    };
  }
  return {
    allows: 'none',
    text: `${is}: ptrace attach is disabled for everyone`,
    hint: 'scope 3 cannot be lowered at run time: set kernel.yama.ptrace_scope to 0, 1 or 2 in /etc/sysctl.d and reboot',
  };
}

function who(f: PermissionFacts, uid: number): string {
  const n = f.userNames?.get(uid);
  return n === undefined ? `uid ${uid}` : `uid ${uid} (${n})`;
}

/** 1. One tracer per task: nobody, not even root, can attach while another tracer is there. */
function tracerRefusal(t: ProcStatus, f: PermissionFacts): PermissionDiagnosis | null {
  if (t.tracerPid === 0) return null;
  const tracer = f.tracerComm === null ? `pid ${t.tracerPid}` : `pid ${t.tracerPid} (${f.tracerComm})`;
  const self = t.tracerPid === f.self.pid ? ' — this process' : '';
  return {
    reason: 'already-traced',
    message: `already traced by ${tracer}${self}`,
    hint: `a process can have only one tracer: detach or quit ${tracer} (debugger, strace, profiler), then try again`,
  };
}

/** 2. Yama. */
function yamaRefusal(f: PermissionFacts, cap: boolean): PermissionDiagnosis | null {
  const v = yamaVerdict(f.yamaScope, cap);
  if (v.allows === 'any' || (v.allows === 'descendants' && f.isDescendant)) return null;
  const ours = v.allows === 'descendants' ? `, and pid ${f.pid} is not one` : '';
  return { reason: 'yama', message: `${v.text}${ours}`, hint: v.hint ?? SUDO_HINT };
}

/** 3. Credentials: our real uid/gid against the target's real, effective and saved ones. */
function credentialRefusal(t: ProcStatus, f: PermissionFacts): PermissionDiagnosis | null {
  const foreignUid = t.uid.slice(0, 3).find((u) => u !== f.self.uid);
  if (foreignUid !== undefined && f.self.uid === 0) {
    return {
      reason: 'no-capability',
      message: `it runs as ${who(f, foreignUid)} and we are root without CAP_SYS_PTRACE`,
      hint: `root needs CAP_SYS_PTRACE to trace other users' processes; ${CONTAINER_HINT}`,
    };
  }
  if (foreignUid !== undefined) {
    return {
      reason: 'other-uid',
      message: `it runs as ${who(f, foreignUid)}, we run as ${who(f, f.self.uid)} without CAP_SYS_PTRACE`,
      hint:
        foreignUid === 0 ? 'run stackshot as root (sudo)' : `run stackshot as ${who(f, foreignUid)} or as root (sudo)`,
    };
  }
  const foreignGid = t.gid.slice(0, 3).find((g) => g !== f.self.gid);
  if (foreignGid !== undefined) {
    return {
      reason: 'other-uid',
      message: `it runs with gid ${foreignGid} (setgid?), we run with gid ${f.self.gid} without CAP_SYS_PTRACE`,
      hint: SUDO_HINT,
    };
  }
  const extra = t.capPrm & ~f.self.capPrm;
  if (extra === 0n) return null;
  return {
    reason: 'no-capability',
    message: `it holds capabilities we do not have (0x${extra.toString(16)}) and we lack CAP_SYS_PTRACE`,
    hint: `${SUDO_HINT}; ${CONTAINER_HINT}`,
  };
}

/** 4. Dumpable. */
function dumpableRefusal(f: PermissionFacts): PermissionDiagnosis | null {
  if (f.dumpable !== false) return null;
  return {
    reason: 'not-dumpable',
    message: 'it is not dumpable (setuid/setgid binary or prctl(PR_SET_DUMPABLE, 0)) and we lack CAP_SYS_PTRACE',
    hint: `only a tracer with CAP_SYS_PTRACE may attach to a non-dumpable process: ${SUDO_HINT}`,
  };
}

/** Decide, from gathered facts only, why ptrace is refused ('unknown' when no rule explains it). */
export function explainPermission(f: PermissionFacts): PermissionDiagnosis {
  const t = f.target;
  if (t === null) {
    return {
      reason: 'unknown',
      message: 'operation not permitted (and the process has exited since)',
      hint: 'the process is gone; try again with a live pid',
    };
  }
  const cap = hasCapability(f.self.capEff, CAP_SYS_PTRACE);
  const refusal =
    tracerRefusal(t, f) ?? yamaRefusal(f, cap) ?? (cap ? null : (credentialRefusal(t, f) ?? dumpableRefusal(f)));
  if (refusal !== null) return refusal;
  return {
    reason: 'unknown',
    message: cap
      ? 'operation not permitted, although we have CAP_SYS_PTRACE'
      : 'operation not permitted for a reason stackshot could not determine',
    hint: UNEXPLAINED_HINT,
  };
}
