// /proc/<pid>/status: the fields stackshot uses (ids, capabilities, tracer, thread group).
import * as fs from 'node:fs';

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
