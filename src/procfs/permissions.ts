// Why the kernel refuses PTRACE_SEIZE on a process, found from /proc alone (no ptrace calls):
// gatherPermissionFacts() reads the facts, procfs/ptrace-rules.ts explainPermission() decides.
import * as fs from 'node:fs';
import { readProcStatus, type ProcStatus } from './proc-status';
import { explainPermission, type PermissionDiagnosis, type PermissionFacts } from './ptrace-rules';

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
