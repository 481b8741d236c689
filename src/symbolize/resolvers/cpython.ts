// The CPython resolver: names the Python code that each native _PyEval_EvalFrameDefault frame
// runs, read from the interpreter's own memory after the threads resumed (no flag needed).
// Each eval frame is preceded by the Python frames its call executes, innermost first, the
// way `py-spy dump --native` reads; an eval frame whose Python frames cannot be read keeps
// its native name and says why in symbolReason (a PythonReason).
import * as fs from 'node:fs';
import { parseMaps, type MapEntry } from '../../procfs/maps';
import { findPythonRuntime, isInterpreterPath, type PythonRuntimeResult } from '../../runtimes/cpython/interpreter';
import { TargetMemory } from '../../runtimes/cpython/memory';
import type { PythonReason } from '../../runtimes/cpython/reasons';
import { CodeCache, readPythonStack, threadStates } from '../../runtimes/cpython/stacks';
import type { PythonFrame, PythonStack } from '../../runtimes/cpython/stacks';
import type { Frame, ThreadStack } from '../../types';
import { LruCache } from '../lru-cache';

/** The native function that runs Python frames (3.11 to 3.13). */
export const EVAL_FRAME = '_PyEval_EvalFrameDefault';

interface ProcessPython {
  /** The interpreter modules' mapping lines the result was found for. */
  key: string;
  result: PythonRuntimeResult;
  codes: CodeCache;
}

const processes = new LruCache<number, ProcessPython>(32);

function isEvalFrame(f: Frame): boolean {
  return f.symbol === EVAL_FRAME && f.inlined !== true;
}

/** The interpreter of pid, found again only when its modules' mappings changed. */
function pythonOf(pid: number, entries: readonly MapEntry[], mem: TargetMemory): ProcessPython {
  const key = entries
    .filter((m) => isInterpreterPath(m.path))
    .map((m) => `${m.start.toString(16)} ${m.offset.toString(16)} ${m.inode} ${m.path}`)
    .join('\n');
  const known = processes.get(pid);
  if (known !== undefined && known.key === key) return known;
  const found: ProcessPython = { key, result: findPythonRuntime(pid, entries, mem), codes: new CodeCache() };
  // Memory that could not be read (a runtime still starting up) is tried again next time.
  if (found.result.ok || found.result.reason !== 'python-runtime-unreadable') processes.set(pid, found);
  return found;
}

/** The tid as the target's own pid namespace numbers it (what native_thread_id holds). */
function namespaceTids(pid: number, tids: number[]): Map<number, number> {
  const nsOf = (file: string): number | null => {
    try {
      const m = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(file, 'utf8'));
      const ids = m === null ? [] : m[1]!.trim().split(/\s+/).map(Number);
      return ids.length > 1 ? ids[ids.length - 1]! : null;
    } catch {
      return null;
    }
  };
  const out = new Map(tids.map((t) => [t, t]));
  if (nsOf(`/proc/${pid}/status`) === null) return out; // same namespace: tids as they are
  for (const t of tids) out.set(t, nsOf(`/proc/${pid}/task/${t}/status`) ?? t);
  return out;
}

function pythonFrame(at: Frame, p: PythonFrame): Frame {
  const { pc, method, returnAddress, module, moduleOffset } = at;
  const f: Frame = {
    pc,
    method,
    returnAddress,
    module,
    moduleOffset,
    symbol: p.name,
    symbolOffset: null,
    kind: 'python',
  };
  if (p.reason !== undefined) f.symbolReason = p.reason;
  if (p.file !== null) f.file = p.file;
  if (p.line !== null) f.line = p.line;
  return f;
}

function markEval(frames: Frame[], reason: PythonReason): void {
  for (const f of frames) if (isEvalFrame(f)) f.symbolReason = reason;
}

/**
 * The frames with each eval frame's Python run put before it (and before the calls inlined at
 * its pc). Runs and eval frames are paired from the outermost when the native stack reached
 * the thread entry (the outer part of a running thread's stack is what cannot have changed
 * since the capture), else from the innermost (the native walk lost the outer frames).
 */
export function interleave(frames: Frame[], stack: PythonStack, complete: boolean): Frame[] {
  const evals: number[] = [];
  frames.forEach((f, i) => isEvalFrame(f) && evals.push(i));
  const runs = stack.runs;
  const pairs = Math.min(evals.length, runs.length);
  const runAt = new Map<number, PythonFrame[]>();
  for (let k = 0; k < pairs; k++) {
    if (complete) runAt.set(evals[evals.length - 1 - k]!, runs[runs.length - 1 - k]!);
    else runAt.set(evals[k]!, runs[k]!);
  }
  // A chain cut short (unreadable frame, loop): its last run read may lack outer frames.
  const cut = stack.reason === undefined ? undefined : runs[runs.length - 1];
  const out: Frame[] = [];
  let inlinedRun = 0; // inlined frames just pushed, which share the next physical frame's pc
  frames.forEach((f, i) => {
    const run = runAt.get(i);
    if (run !== undefined) {
      out.splice(out.length - inlinedRun, 0, ...run.map((p) => pythonFrame(f, p)));
      if (run === cut) f.symbolReason = stack.reason;
    } else if (isEvalFrame(f)) {
      f.symbolReason = stack.reason ?? 'python-stack-changed';
    }
    out.push(f);
    inlinedRun = f.inlined === true ? inlinedRun + 1 : 0;
  });
  // Runs the native walk did not reach: still the thread's outer Python frames, in order.
  const anchor = frames[frames.length - 1];
  if (!complete && anchor !== undefined) {
    for (const run of runs.slice(pairs)) for (const p of run) out.push(pythonFrame(anchor, p));
  }
  return out;
}

/**
 * Adds the Python frames of every thread of pid that runs Python code (has an eval frame).
 * Reads the target's memory; a process without CPython costs one scan of its frames.
 */
export function addPythonFrames(pid: number, maps: string, threads: ThreadStack[]): void {
  const withEval = threads.filter((t) => t.frames.some(isEvalFrame));
  if (withEval.length === 0) return;
  const mem = new TargetMemory(pid);
  try {
    addWith(mem, maps, withEval);
  } finally {
    mem.close();
  }
}

function addWith(mem: TargetMemory, maps: string, withEval: ThreadStack[]): void {
  const pid = mem.pid;
  const py = pythonOf(pid, parseMaps(maps), mem);
  if (!py.result.ok) {
    for (const t of withEval) markEval(t.frames, py.result.reason);
    return;
  }
  const rt = py.result.runtime;
  const states = threadStates(mem, rt);
  const nsTids = namespaceTids(
    pid,
    withEval.map((t) => t.tid),
  );
  for (const t of withEval) {
    const tstate = states.byTid.get(nsTids.get(t.tid) ?? t.tid);
    if (tstate === undefined) {
      markEval(t.frames, states.complete ? 'python-thread-state-not-found' : 'python-runtime-unreadable');
      continue;
    }
    t.frames = interleave(t.frames, readPythonStack(mem, rt, py.codes, tstate), t.complete);
  }
}
