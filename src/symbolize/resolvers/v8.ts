// The V8 resolver: names the frames of JIT code and of V8's builtins by the JavaScript
// function each runs, read from the target's memory after it resumed (frames.ts). Frames it
// cannot read keep their native name and say why; frames V8 marks as its own (entry, exit,
// stub frames) keep their native name.
import { ProcessMemory } from '../../procfs/process-memory';
import type { JsFrameName, StackCopy, V8Code, V8FrameReader } from '../../runtimes/v8/frames';
import { findV8InMaps, v8FrameReader, type V8Runtime } from '../../runtimes/v8/runtime';
import { lookupAddress } from '../../stack/lookup-address';
import type { Frame, SymbolReason } from '../../types';

/** One thread's frames and the frame pointer each ran with (absent for inlined frames). */
export interface FramesWithFp {
  frames: Frame[];
  fpOf: (frame: Frame) => bigint | undefined;
  /** The stack the capture copied (frame slots are read from it). */
  stack?: StackCopy;
}

/** Where a frame's pc is, for V8; undefined when it is in neither V8's builtins nor JIT code. */
function v8Code(f: Frame, v8Module: string): V8Code | undefined {
  if (f.module === '[anon]') return 'jit';
  if (f.module !== v8Module || !isBuiltin(f)) return undefined;
  return f.symbol?.startsWith('Builtins_Interpreter') === true ? 'interpreter' : 'builtin';
}

/** A frame in one of V8's builtins (in whichever module: v8Code checks it is V8's). */
const isBuiltin = (f: Frame): boolean => f.symbol !== null && f.symbol.startsWith('Builtins_');

/** Names the JavaScript frames of every thread of a live process whose node carries V8 metadata. */
export function resolveV8Frames(pid: number, mapsText: string, threads: FramesWithFp[]): void {
  // Only JIT code or a builtin can be a JavaScript frame: without one, V8 is not looked for (an
  // idle node's threads wait in libuv and libc: finding V8 cost its cold snapshot ~2 ms).
  if (!threads.some((t) => t.frames.some((f) => f.module === '[anon]' || isBuiltin(f)))) return;
  const runtime = findV8InMaps(pid, mapsText);
  if (runtime === undefined) return;
  const memory = new ProcessMemory(pid);
  try {
    nameJsFrames(
      runtime,
      v8FrameReader(pid, runtime, (address, length) => memory.read(address, length)),
      threads,
    );
  } finally {
    memory.close();
  }
}

function nameJsFrames(runtime: V8Runtime, reader: V8FrameReader | undefined, threads: FramesWithFp[]): void {
  for (const { frames, fpOf, stack } of threads) {
    const inlinedAt = new Map<Frame, Frame[]>();
    frames.forEach((f, i) => {
      const fp = fpOf(f);
      if (fp === undefined || f.inlined === true) return;
      const code = v8Code(f, runtime.module);
      if (code === undefined) return;
      // A frame that shares its frame pointer with its caller has not built a frame of its own
      // (a builtin's fast path, a function's prologue): the frame there is the caller's.
      let caller = i + 1;
      while (caller < frames.length && frames[caller].inlined === true) caller++;
      if (caller < frames.length && fpOf(frames[caller]) === fp) return;
      if (reader === undefined) {
        if (!runtime.support.supported && code !== 'builtin') setReason(f, 'v8-unsupported', runtime.support.reason);
        return;
      }
      const v = reader.read(fp, lookupAddress(BigInt(f.pc), f.returnAddress), code, stack);
      if (v.kind === 'unreadable') {
        setReason(f, 'v8-frame-unreadable', v.reason);
        return;
      }
      if (v.kind === 'marker' || v.kind === 'internal') return;
      f.kind = 'js';
      f.symbol = v.js.name;
      f.symbolOffset = null;
      f.jsTier = v.js.tier;
      delete f.symbolReason;
      delete f.symbolDetail;
      if (v.js.file !== undefined) f.file = v.js.file;
      if (v.js.line !== undefined) {
        f.line = v.js.line;
        f.column = v.js.column;
      }
      if (v.inlined !== undefined)
        inlinedAt.set(
          f,
          v.inlined.map((js) => inlinedJsFrame(f, js)),
        );
    });
    // Calls inlined into optimized code come first, at the same pc, as native inlines do.
    for (let i = frames.length - 1; i >= 0; i--) {
      const calls = inlinedAt.get(frames[i]);
      if (calls !== undefined) frames.splice(i, 0, ...calls);
    }
  }
}

/** The frame keeps its native name, and says why it is not a JavaScript one. */
function setReason(f: Frame, reason: SymbolReason, detail: string): void {
  f.symbolReason = reason;
  f.symbolDetail = detail;
}

function inlinedJsFrame(physical: Frame, js: JsFrameName): Frame {
  const f: Frame = {
    pc: physical.pc,
    method: physical.method,
    returnAddress: physical.returnAddress,
    module: physical.module,
    moduleOffset: physical.moduleOffset,
    symbol: js.name,
    symbolOffset: null,
  };
  f.kind = 'js';
  f.jsTier = js.tier;
  if (js.file !== undefined) f.file = js.file;
  if (js.line !== undefined) {
    f.line = js.line;
    f.column = js.column;
  }
  f.inlined = true;
  return f;
}
