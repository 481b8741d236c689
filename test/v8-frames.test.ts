// JavaScript frames named from V8's own memory, on a node started with no flag: each thread's
// JS frames must equal the `new Error().stack` the program printed just before blocking
// (names, files, lines, columns), in order, between the right native frames. With
// --perf-basic-prof, the perf map must agree. Against a heap that GCs move: no crash, no
// garbage names, reasons on what could not be read.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { ElfFile, FdSource } from '../src/elf/elf-file';
import { V8Heap, V8ReadError } from '../src/runtimes/v8/heap';
import { readV8Symbols, v8Layout } from '../src/runtimes/v8/metadata';
import { formatThreadText } from '../src/output/text';
import { snapshot } from '../src/snapshot';
import type { Frame, Snapshot, ThreadStack } from '../src/types';
import { compileFixture, FIXTURES_DIR } from './helpers/fixtures';
import { readelf } from './helpers/readelf';
import { startNodeWith, stopAllTargets, type Target } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const PROGRAM = path.join(FIXTURES_DIR, 'v8_frames.js');
// The 2,000 with STACKSHOT_RELIABILITY_FULL=1 (as the other reliability tests), else 200.
const SNAPSHOTS = Number(
  process.env.STACKSHOT_V8_SNAPSHOTS ?? (process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 2000 : 200),
);

interface TraceFrame {
  name: string;
  file: string;
  line: number;
  column: number;
}

/**
 * `    at Shop.checkout (/x.js:37:12)` / `    at /x.js:3:1` -> its parts; an eval's file is
 * `eval at f (/x.js:8:13), <anonymous>` (the name ends at the first parenthesis).
 */
function parseTrace(stack: string): TraceFrame[] {
  const out: TraceFrame[] = [];
  for (const l of stack.split('\n').slice(1)) {
    const m = /^\s+at (?:(.*?) \()?(.+):(\d+):(\d+)\)?$/.exec(l);
    if (m === null) continue;
    out.push({ name: m[1] ?? '', file: m[2], line: Number(m[3]), column: Number(m[4]) });
  }
  return out;
}

/** V8's name for a call, without the `[as alias]` it adds when a method is reached by another name. */
function sameName(ours: string, trace: string): boolean {
  return ours === trace.replace(/ \[as [^\]]*\]$/, '');
}

async function startProgram(args: string[] = []): Promise<{ t: Target; traces: Map<string, TraceFrame[]> }> {
  const t = await startNodeWith(args, [PROGRAM], {
    ready: /"tag":"main"/,
    timeoutMs: 20_000,
  });
  // Both threads print before blocking; wait for both lines, then for both to block.
  const traces = new Map<string, TraceFrame[]>();
  for (const line of t.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const r = JSON.parse(line) as { tag: string; stack: string };
    traces.set(r.tag, parseTrace(r.stack));
  }
  if (!traces.has('worker')) {
    const line = await t.waitForLine(/"tag":"worker"/, 20_000);
    const r = JSON.parse(line) as { tag: string; stack: string };
    traces.set(r.tag, parseTrace(r.stack));
  }
  return { t, traces };
}

/** The thread whose stack holds a JS frame named `name`, once every such thread is blocked. */
async function threadWith(pid: number, name: string): Promise<{ snap: Snapshot; thread: ThreadStack }> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const snap = await snapshot(pid);
    const thread = snap.threads.find((th) => th.frames.some((f) => f.kind === 'js' && f.symbol === name));
    if (thread !== undefined && thread.frames.some((f) => /AtomicsWait/.test(f.symbol ?? ''))) return { snap, thread };
    if (Date.now() > deadline) throw new Error(`no blocked thread with a JS frame ${name}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Our JS frames in the program's file, innermost first. */
function programFrames(thread: ThreadStack): Frame[] {
  return thread.frames.filter((f) => f.kind === 'js' && f.file === PROGRAM);
}

function expectSameFrames(ours: Frame[], trace: TraceFrame[]): void {
  const theirs = trace.filter((f) => f.file === PROGRAM);
  expect(ours.map((f) => `${f.symbol}@${f.line}`)).toHaveLength(theirs.length);
  ours.forEach((f, i) => {
    const want = theirs[i];
    expect(sameName(f.symbol ?? '', want.name), `frame ${i}: ${f.symbol} vs ${want.name}`).toBe(true);
    expect(f.line, `frame ${i} (${want.name}) line`).toBe(want.line);
    // The trace was taken one call before the blocking call, on the same line.
    if (i > 0) expect(f.column, `frame ${i} (${want.name}) column`).toBe(want.column);
  });
}

describe('V8 frames, node started without flags', () => {
  it('main thread (async, arrow, method, new, interpreted, TurboFan inlining) equals Error().stack', async () => {
    const { t, traces } = await startProgram();
    const { thread } = await threadWith(t.pid, 'afterAwait');
    const ours = programFrames(thread);
    expectSameFrames(ours, traces.get('main')!);
    // The tiers: `block` inlined into `hot` (optimized by TurboFan), the callers interpreted.
    expect(ours[0]).toMatchObject({ symbol: 'block', inlined: true, jsTier: 'optimized' });
    expect(ours[1]).toMatchObject({ symbol: 'hot', jsTier: 'optimized' });
    expect(ours[1].inlined).toBeUndefined();
    for (const f of ours.slice(2)) expect(f.jsTier).toBe('interpreted');
    // The text output: name, then tier and where (`hot  (JS optimized, /app/w.js:28:14)`).
    const hot = traces.get('main')!.filter((f) => f.file === PROGRAM)[1];
    expect(formatThreadText(thread)).toContain(`  hot  (JS optimized, ${PROGRAM}:${hot.line}:${hot.column})`);
    // Between the right native frames: the wait's builtin inside, the microtask runner outside.
    const frames = thread.frames;
    const first = frames.indexOf(ours[0]);
    const last = frames.indexOf(ours[ours.length - 1]);
    expect(frames.slice(0, first).some((f) => /Builtin_AtomicsWait/.test(f.symbol ?? ''))).toBe(true);
    expect(frames[first - 1].symbol).toMatch(/^Builtins_CEntry/);
    // In between, only V8's own frames (the construct stub of `new Order`).
    const between = frames.slice(first, last + 1).filter((f) => f.kind !== 'js');
    expect(between.map((f) => f.symbol)).toEqual(['Builtins_JSConstructStubGeneric', 'Builtins_ConstructHandler']);
    expect(frames.slice(last + 1).some((f) => f.symbol === 'Builtins_RunMicrotasks')).toBe(true);
  });

  it("worker thread (Sparkplug baseline code) equals its Error().stack, from the worker's own JS entry", async () => {
    const { t, traces } = await startProgram();
    const { thread } = await threadWith(t.pid, 'workerMain');
    expect(thread.tid).not.toBe(t.pid);
    const ours = programFrames(thread);
    expectSameFrames(ours, traces.get('worker')!);
    // Warmed 60 times: Sparkplug code, whose lines come through its bytecode offset table.
    expect(ours.slice(0, 3).map((f) => `${f.symbol}:${f.jsTier}`)).toEqual([
      'block:baseline',
      'workerInner:baseline',
      'workerMain:interpreted',
    ]);
    const frames = thread.frames;
    expect(frames[frames.indexOf(ours[0]) - 1].symbol).toMatch(/^Builtins_CEntry/);
    expect(
      frames.slice(frames.indexOf(ours[ours.length - 1])).some((f) => f.symbol === 'Builtins_JSEntryTrampoline'),
    ).toBe(true);
  });

  it("eval, nested eval, new Function, inferred names, node's own JS read as Error().stack writes them", async () => {
    const program = path.join(FIXTURES_DIR, 'v8_eval.js');
    const t = await startNodeWith([], [program], { ready: /"tag":"eval"/ });
    const line = t.stdout.split('\n').find((l) => l.includes('"tag":"eval"'))!;
    const trace = parseTrace((JSON.parse(line) as { stack: string }).stack);
    const { thread } = await threadWith(t.pid, 'evalFn');
    const ours = thread.frames.filter((f) => f.kind === 'js');
    expect(ours.map((f) => `${f.symbol} (${f.file}:${f.line})`)).toEqual(
      trace.map((f) => `${f.name.replace(/ \[as [^\]]*\]$/, '')} (${f.file}:${f.line})`),
    );
    // Columns too, but the innermost frame's: the trace was taken one call before it blocked.
    expect(ours.slice(1).map((f) => f.column)).toEqual(trace.slice(1).map((f) => f.column));
    expect(trace.some((f) => f.file.startsWith('eval at evalFn (eval at runEval ('))).toBe(true);
    expect(trace.some((f) => f.file === 'node:internal/timers')).toBe(true);
    expect(trace.some((f) => f.name === 'timers.fire')).toBe(true);
  });

  it('with --perf-basic-prof, the perf map names the JIT frames as V8 does', async () => {
    const { t, traces } = await startProgram(['--perf-basic-prof']);
    const { thread } = await threadWith(t.pid, 'afterAwait');
    expectSameFrames(programFrames(thread), traces.get('main')!);
    // The perf map, read here independently: the newest entry for an address wins.
    const entries = fs
      .readFileSync(`/tmp/perf-${t.pid}.map`, 'utf8')
      .split('\n')
      .map((l) => /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ start: BigInt(`0x${m[1]}`), size: BigInt(`0x${m[2]}`), name: m[3] }));
    const jit = thread.frames.filter((f) => f.kind === 'js' && f.module === '[anon]' && f.inlined !== true);
    expect(jit.length).toBeGreaterThan(0);
    for (const f of jit) {
      const pc = BigInt(f.pc) - 1n;
      const hit = entries.filter((e) => pc >= e.start && pc < e.start + e.size).pop();
      expect(hit, `pc ${f.pc} in the perf map`).toBeDefined();
      // `JS:*hot /path/v8_frames.js:25:13`: tier marker, name, where the function is defined.
      const m = /^JS:[~^+*]?(.*) (\S+):\d+:\d+$/.exec(hit!.name);
      expect(m, hit!.name).not.toBeNull();
      expect(f.symbol === m![1] || f.symbol!.endsWith(`.${m![1]}`), `${f.symbol} vs ${hit!.name}`).toBe(true);
      expect(m![2]).toBe(f.file);
    }
  });
});

describe('V8 frames against a moving heap', () => {
  it(`${SNAPSHOTS} snapshots of a node allocating and forcing GCs: valid names, or reasons`, async () => {
    const churn = [
      'const keep = [];',
      'function make(i) { return { i, s: "x".repeat(i % 64) + i, a: new Array(i % 100).fill(i) }; }',
      'function churn() { for (let i = 0; i < 20000; i++) keep[i % 5000] = make(i); gc(); setImmediate(churn); }',
      "console.log('ready'); churn();",
    ].join('\n');
    const t = await startNodeWith(['--expose-gc'], ['-e', churn]);
    let js = 0;
    let unreadable = 0;
    for (let i = 0; i < SNAPSHOTS; i++) {
      const snap = await snapshot(t.pid, { threads: [t.pid] });
      for (const f of snap.threads[0].frames) {
        if (f.kind === 'js') {
          js++;
          const name = f.symbol ?? '';
          expect(Buffer.from(name, 'utf8').toString('utf8')).toBe(name);
          expect(name).not.toMatch(/[\u0000-\u001f\ufffd]/);
          if (f.file !== undefined) expect(f.file).not.toMatch(/[\u0000-\u001f\ufffd]/);
        }
        if (f.symbolReason === 'v8-frame-unreadable') unreadable++;
        if (f.symbol === null) expect(f.symbolReason, `frame ${f.pc} without a name or a reason`).toBeDefined();
      }
    }
    expect(t.running).toBe(true);
    // Most snapshots catch the loop in JavaScript; what could not be read said so.
    expect(js).toBeGreaterThan(SNAPSHOTS / 2);
    expect(unreadable).toBeLessThan(js);
  }, 120_000);
});

describe('V8 metadata', () => {
  const symbols = (file: string): Map<string, number> => {
    const fd = fs.openSync(file, 'r');
    try {
      return readV8Symbols(new ElfFile(new FdSource(fd)));
    } finally {
      fs.closeSync(fd);
    }
  };

  it("is read from node's symbols, values from the file (zeros from .bss)", () => {
    const values = symbols(process.execPath);
    // The oracle: readelf's list of node's dynamic symbols.
    const names = readelf(['-W', '--dyn-syms'], process.execPath)
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[7] ?? '')
      .filter((n) => n.startsWith('v8dbg_'));
    expect(names.length).toBeGreaterThan(400);
    for (const n of names) expect(values.has(n), n).toBe(true);
    expect(values.get('v8dbg_off_fp_function')).toBe(-16);
    expect(values.get('v8dbg_SmiTag')).toBe(0); // a zero: lives in .bss
    const support = v8Layout(values);
    expect(support.supported).toBe(true);
    if (support.supported) expect(support.layout.version).toBe(process.versions.v8.replace(/-.*$/, ''));
  });

  it('a build without it, with pointer compression, or missing a field is reported, not misread', () => {
    expect(symbols(compileFixture('idle', 'fp')).size).toBe(0);
    expect(v8Layout(new Map())).toEqual({
      supported: false,
      reason: expect.stringMatching(/no V8 post-mortem metadata/),
    });
    const values = symbols(process.execPath);
    expect(v8Layout(new Map([...values, ['v8dbg_TaggedSize', 4]]))).toEqual({
      supported: false,
      reason: expect.stringMatching(/pointer compression/),
    });
    const without = new Map(values);
    without.delete('v8dbg_off_fp_function');
    expect(v8Layout(without)).toEqual({ supported: false, reason: 'V8 metadata lacks off_fp_function' });
  });
});

describe('V8 heap reader against hostile memory', () => {
  // A made-up heap in a buffer, laid out with node's own metadata: what a target could put
  // in its memory. The reader must give text or a V8ReadError, bounded, never loop or crash.
  const values = (() => {
    const fd = fs.openSync(process.execPath, 'r');
    try {
      return readV8Symbols(new ElfFile(new FdSource(fd)));
    } finally {
      fs.closeSync(fd);
    }
  })();
  const support = v8Layout(values);
  if (!support.supported) throw new Error(support.reason);
  const L = support.layout;
  const BASE = 0x10000n;
  const mem = Buffer.alloc(4096);
  const read = (address: bigint, length: number): Buffer => {
    const off = Number(address - BASE);
    if (off < 0 || off >= mem.length) return Buffer.alloc(0);
    return Buffer.from(mem.subarray(off, Math.min(mem.length, off + length)));
  };
  let next = 0;
  /** Allocates an object of `size` bytes whose map says `type`; returns its tagged pointer. */
  const object = (type: number, size: number): bigint => {
    const map = next;
    mem.writeUInt16LE(type, map + L.off.mapInstanceType);
    const obj = map + 16;
    next = obj + size + ((8 - (size % 8)) % 8);
    mem.writeBigUInt64LE(BASE + BigInt(map) + 1n, obj + L.off.map);
    return BASE + BigInt(obj) + 1n;
  };
  const at = (tagged: bigint): number => Number(tagged - 1n - BASE);
  const oneByte = L.string.seq | L.string.oneByte;
  const twoByte = L.string.seq;
  const seq = (type: number, bytes: Buffer, length: number): bigint => {
    const s = object(type, L.off.seqChars + bytes.length);
    mem.writeInt32LE(length, at(s) + L.off.stringLength);
    bytes.copy(mem, at(s) + L.off.seqChars);
    return s;
  };

  it('reads sequential, cons and sliced strings; lone surrogates come out as U+FFFD', () => {
    const heap = new V8Heap(L, read);
    const hello = seq(oneByte, Buffer.from('hello'), 5);
    expect(heap.string(hello)).toBe('hello');
    const lone = seq(twoByte, Buffer.from([0x61, 0, 0x00, 0xd8, 0x62, 0]), 3);
    expect(heap.string(lone)).toBe('a\ufffdb');
    const cons = object(L.string.cons | L.string.oneByte, L.off.consSecond + 8);
    mem.writeInt32LE(8, at(cons) + L.off.stringLength);
    mem.writeBigUInt64LE(hello, at(cons) + L.off.consFirst);
    mem.writeBigUInt64LE(seq(oneByte, Buffer.from('abc'), 3), at(cons) + L.off.consSecond);
    expect(heap.string(cons)).toBe('helloabc');
    const sliced = object(L.string.sliced | L.string.oneByte, L.off.slicedOffset + 8);
    mem.writeInt32LE(3, at(sliced) + L.off.stringLength);
    mem.writeBigUInt64LE(cons, at(sliced) + L.off.slicedParent);
    mem.writeBigUInt64LE(4n << 32n, at(sliced) + L.off.slicedOffset); // Smi 4
    expect(heap.string(sliced)).toBe('oab');
  });

  it('refuses a cons loop, an oversized length, an untagged map, a non-string, memory that is not there', () => {
    const heap = new V8Heap(L, read);
    const loop = object(L.string.cons | L.string.oneByte, L.off.consSecond + 8);
    mem.writeInt32LE(10, at(loop) + L.off.stringLength);
    mem.writeBigUInt64LE(loop, at(loop) + L.off.consFirst);
    mem.writeBigUInt64LE(loop, at(loop) + L.off.consSecond);
    expect(() => heap.string(loop)).toThrow(V8ReadError);
    const huge = seq(oneByte, Buffer.from('x'), 0x7fffffff);
    expect(() => heap.string(huge)).toThrow(/too long/);
    const past = seq(oneByte, Buffer.from('x'), 8000); // chars past the end of readable memory
    expect(() => heap.string(past, 10_000)).toThrow(/unreadable memory/);
    const noMap = BASE + BigInt(next) + 1n;
    mem.writeBigUInt64LE(0x1234n, next); // not a tagged pointer
    expect(() => heap.string(noMap)).toThrow(/valid map/);
    expect(() => heap.string(object(L.type.script, 64))).toThrow(/string expected/);
    expect(() => heap.string(0x7fff0001n)).toThrow(/unreadable memory/);
    expect(() => heap.string(0x10010n)).toThrow(/not a heap object/);
  });
});
