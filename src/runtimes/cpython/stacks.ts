// The Python stacks of a process, read from its memory: _PyRuntime → interpreters → thread
// states (by native_thread_id) → each thread's frame chain, cut into the runs that one native
// _PyEval_EvalFrameDefault call executes. Every list is bounded and loop-checked.
import { LruCache } from '../../symbolize/lru-cache';
import { FRAME_OWNED_BY_CSTACK } from './layouts';
import type { PythonRuntime } from './interpreter';
import type { TargetMemory } from './memory';
import { decodeCode, readCodeHeader, type CodeInfo } from './objects';
import { lineOfInstruction } from './line-table';
import type { PythonReason } from './reasons';

const MAX_INTERPRETERS = 256;
const MAX_THREADS = 65536;
/** Deeper than any real stack: sys.setrecursionlimit's practical ceiling is far below. */
const MAX_FRAMES = 100_000;

/** One Python frame: its function's qualified name, file and line. */
export interface PythonFrame {
  name: string | null;
  file: string | null;
  line: number | null;
  /** Set when the frame's code could not be read (name is then null). */
  reason?: PythonReason;
  /** The frame's address and its code object's: what a second read must find again. */
  frame: bigint;
  code: bigint;
}

/** A thread's Python frames, innermost first, cut per native eval call (innermost call first). */
export interface PythonStack {
  runs: PythonFrame[][];
  /** Set when the chain ended early: the runs hold what was read before. */
  reason?: PythonReason;
}

/** Thread states by native_thread_id; `complete` is false when a list could not be walked to its end. */
export interface ThreadStates {
  byTid: Map<number, bigint>;
  complete: boolean;
}

/**
 * Every interpreter's thread states. A thread that exits while the list is read frees its
 * state: the walk then stops at the bad link and keeps what it read before.
 */
export function threadStates(mem: TargetMemory, rt: PythonRuntime): ThreadStates {
  const L = rt.layout;
  const out: ThreadStates = { byTid: new Map(), complete: false };
  let interp = mem.u64(rt.runtime + BigInt(L.runtime.interpretersHead));
  const seen = new Set<bigint>();
  for (let n = 0; interp !== null && interp !== 0n; n++) {
    if (n >= MAX_INTERPRETERS || seen.has(interp)) return out;
    seen.add(interp);
    let ts = mem.u64(interp + BigInt(L.interpreter.threadsHead));
    for (let k = 0; ts !== 0n; k++) {
      if (ts === null || k >= MAX_THREADS || seen.has(ts)) return out;
      seen.add(ts);
      const next = mem.u64(ts + BigInt(L.thread.next));
      const tid = mem.u64(ts + BigInt(L.thread.nativeThreadId));
      if (next === null || tid === null) return out;
      if (tid > 0n && tid < 1n << 32n && !out.byTid.has(Number(tid))) out.byTid.set(Number(tid), ts);
      ts = next;
    }
    interp = mem.u64(interp + BigInt(L.interpreter.next));
  }
  out.complete = interp === 0n;
  return out;
}

/**
 * Decoded code objects of one process, by address, each kept with the header it was decoded
 * from: a hit needs the same header at the same address (a freed and reused address reads
 * differently), so only the header is read again.
 */
export class CodeCache {
  /** Bounded by count and by the bytes held (headers, line tables): at most 8 MiB per process. */
  private readonly entries = new LruCache<bigint, { head: Buffer; info: CodeInfo | null }>(4096, {
    weigh: (e) => e.head.length + (e.info?.linetable?.length ?? 0),
    maxWeight: 8 * 1024 * 1024,
  });

  get(mem: TargetMemory, rt: PythonRuntime, address: bigint): CodeInfo | null {
    const head = readCodeHeader(mem, rt, address);
    if (head === null) return null;
    const known = this.entries.get(address);
    if (known !== undefined && known.head.equals(head)) return known.info;
    let info = decodeCode(mem, rt, address, head);
    // Decoding reads the name, file and line table: a header changed meanwhile means the
    // object was freed (and its address reused) while it was read, so none of it holds.
    const after = info === null ? head : mem.reread(address, head.length);
    if (after === null || !after.equals(head)) info = null;
    this.entries.set(address, { head, info });
    return info;
  }
}

function frameOf(
  mem: TargetMemory,
  rt: PythonRuntime,
  codes: CodeCache,
  frame: bigint,
  code: bigint,
  instr: bigint,
): PythonFrame {
  const info = codes.get(mem, rt, code);
  if (info === null) return { name: null, file: null, line: null, reason: 'python-code-invalid', frame, code };
  // 3.11/3.12 point at the last instruction started; 3.13 at the current one: the same index.
  const delta = instr - info.codeStart;
  const index = delta >= -2n && delta < BigInt(info.units * 2) && delta % 2n === 0n ? Number(delta / 2n) : null;
  if (index === null || info.linetable === null) return { name: info.name, file: info.file, line: null, frame, code };
  const line = lineOfInstruction(info.linetable, info.firstLine, index);
  return { name: info.name, file: info.file, line, frame, code };
}

/**
 * The Python stack of the thread whose state is at `tstate`, read twice: the thread runs while
 * it is read, so a frame popped or a code object freed in between can read as another one. The
 * frames both reads found the same (the same frame holding the same code, from the outermost
 * in) are kept; the inner ones that differ are the part that moved, and keep no name.
 */
export function readPythonStack(mem: TargetMemory, rt: PythonRuntime, codes: CodeCache, tstate: bigint): PythonStack {
  const first = readPythonStackOnce(mem, rt, codes, tstate);
  mem.forget(); // the second read reads the target again, not the pages the first one kept
  const second = readPythonStackOnce(mem, rt, codes, tstate);
  const a = first.runs.flat().reverse();
  const b = second.runs.flat().reverse();
  let same = 0;
  while (same < a.length && same < b.length && a[same]!.frame === b[same]!.frame && a[same]!.code === b[same]!.code)
    same++;
  // Everything inward of the first frame that differs (outermost first: `same` frames agree).
  let moved = b.length - same;
  if (moved === 0) return second;
  const stack: PythonStack = { runs: second.runs.map((run) => [...run]) };
  if (second.reason !== undefined) stack.reason = second.reason;
  for (const run of stack.runs) {
    for (let i = 0; i < run.length && moved > 0; i++, moved--) {
      const { frame, code } = run[i]!;
      run[i] = { name: null, file: null, line: null, reason: 'python-stack-changed', frame, code };
    }
    if (moved === 0) break;
  }
  return stack;
}

function readPythonStackOnce(mem: TargetMemory, rt: PythonRuntime, codes: CodeCache, tstate: bigint): PythonStack {
  const L = rt.layout;
  let frame: bigint | null;
  if (L.thread.cframe !== null) {
    const cframe = mem.u64(tstate + BigInt(L.thread.cframe));
    frame = cframe === null || cframe === 0n ? null : mem.u64(cframe + BigInt(L.thread.currentFrame));
  } else {
    frame = mem.u64(tstate + BigInt(L.thread.currentFrame));
  }
  const stack: PythonStack = { runs: [] };
  if (frame === null) return { runs: [], reason: 'python-frame-unreadable' };
  let run: PythonFrame[] = [];
  const seen = new Set<bigint>();
  while (frame !== 0n) {
    if (seen.size >= MAX_FRAMES || seen.has(frame)) {
      stack.reason = 'python-chain-invalid';
      break;
    }
    seen.add(frame);
    const raw = mem.read(frame, L.frame.size);
    if (raw === null) {
      stack.reason = 'python-frame-unreadable';
      break;
    }
    const previous = raw.readBigUInt64LE(L.frame.previous);
    const shim = L.entry === 'cstack-shim' && raw[L.frame.owner] === FRAME_OWNED_BY_CSTACK;
    const f = shim
      ? null
      : frameOf(mem, rt, codes, frame, raw.readBigUInt64LE(L.frame.code), raw.readBigUInt64LE(L.frame.instr));
    // The shim's own code object ("<interpreter trampoline>" in "<shim>") runs only in shim
    // frames: read while the frame was being set up, its owner byte can lag behind.
    if (shim || (L.entry === 'cstack-shim' && f?.file === '<shim>')) {
      // The shim below one eval call's frames: that run is complete (it may be empty).
      stack.runs.push(run);
      run = [];
    } else if (f !== null) {
      run.push(f);
      if (L.frame.isEntry !== null && raw[L.frame.isEntry] !== 0) {
        stack.runs.push(run);
        run = [];
      }
    }
    frame = previous;
  }
  if (run.length > 0) stack.runs.push(run);
  return stack;
}
