// Whether a process's Python frames can be read: its interpreter found, its version known and
// supported, its thread states reachable. For `audit` and `doctor`; reads memory, never stops.
import * as fs from 'node:fs';
import { type MapEntry, parseMaps } from '../../procfs/maps';
import { findPythonRuntime, isInterpreterPath, type VersionSource } from './interpreter';
import { TargetMemory } from './memory';
import type { PythonReason } from './reasons';
import { threadStates } from './stacks';

export interface PythonFramesProbe {
  /** Python frames will be named. */
  readable: boolean;
  /** The interpreter module (libpython or the executable); null when none defines _PyRuntime. */
  module: string | null;
  /** "3.11.2"; from the file name ("3.10") when the binary has no Py_Version; null when unknown. */
  version: string | null;
  versionSource: VersionSource | null;
  /** The layout used: "3.11", "3.12", "3.13" (from _Py_DebugOffsets). */
  layout: string | null;
  /** Python thread states found (readable only). */
  threads: number;
  /** Why not readable. */
  reason?: PythonReason;
}

/** Null when the process maps no Python interpreter at all. */
export function probePythonFrames(pid: number): PythonFramesProbe | null {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    return null;
  }
  const entries = parseMaps(maps);
  if (!entries.some((m) => isInterpreterPath(m.path))) return null;
  const mem = new TargetMemory(pid);
  try {
    return probeWith(mem, entries);
  } finally {
    mem.close();
  }
}

function probeWith(mem: TargetMemory, entries: readonly MapEntry[]): PythonFramesProbe {
  const found = findPythonRuntime(mem.pid, entries, mem);
  if (!found.ok) {
    const m = found.module;
    return {
      readable: false,
      module: m?.path ?? null,
      version: m?.version ?? null,
      versionSource: m?.versionSource ?? null,
      layout: null,
      threads: 0,
      reason: found.reason,
    };
  }
  const rt = found.runtime;
  const states = threadStates(mem, rt);
  const threads = states.byTid.size;
  const { version, versionSource } = rt;
  const base = { module: rt.path, version, versionSource, layout: rt.layout.version, threads };
  if (!states.complete && threads === 0) return { ...base, readable: false, reason: 'python-runtime-unreadable' };
  return { ...base, readable: true };
}

/** One line for people: "readable: Python 3.11.2 (Py_Version), layout 3.11, 5 threads". */
export function describePythonProbe(p: PythonFramesProbe): string {
  const version = p.version === null ? 'version unknown' : `Python ${p.version} (${p.versionSource})`;
  if (p.readable) {
    return `Python frames readable: ${version}, layout ${p.layout}, ${p.threads} thread state(s) in ${p.module}`;
  }
  return `Python frames not readable (${p.reason}): ${version}${p.module !== null ? ` in ${p.module}` : ''}`;
}
