// snapshot(pid): capture every thread natively, unwind the copies, name the frames, and
// decide completeness.
import * as fs from 'node:fs';

import { binding, RAW_METHOD, type RawCapture, type RawThreadCapture, type RawUnwound } from './addon';
import { mergeStopped, stopOptions, threadsNeedingStop } from './capture/stop-fallback';
import { toStackshotError } from './capture/capture-error';
import { errnoName, type StackshotError } from './errors';
import { resolveOptions, InvalidOptionError, type ResolvedOptions } from './options';
import { readComm } from './procfs/permissions';
import { checkTarget, confirmTarget, forgetTarget, trustedTarget, type TrustedTarget } from './procfs/preflight';
import { finishStack } from './stack/thread-entry';
import { ModuleRegistry } from './symbolize/module-registry';
import { lookupAddress } from './stack/lookup-address';
import type { PcNameCache } from './symbolize/pc-name-cache';
import { nameRuntimeFrames } from './symbolize/resolvers/runtimes';
import { Symbolizer, type InlinedName, type PcToName, type SymbolizerOptions } from './symbolize/symbolizer';
import { SNAPSHOT_VERSION } from './types';
import type {
  Arch,
  CaptureFallback,
  EndReason,
  Frame,
  Schedule,
  Snapshot,
  SnapshotOptions,
  ThreadFailure,
  ThreadStack,
} from './types';
import { findMapping, parseMaps, placeInMapping } from './procfs/maps';

// One module registry for the life of the process, for unwinding and naming alike: its parsed
// modules are what make a second snapshot cheap.
let sharedModules: ModuleRegistry | undefined;
function modules(): ModuleRegistry {
  sharedModules ??= new ModuleRegistry({ xzDecompress: binding.xzDecompress });
  return sharedModules;
}

/**
 * A symbolizer that demangles with the addon, over a registry of its own (a saved capture's
 * supplied modules must not mix with live ones), unless `options.modules` gives one.
 */
export function createSymbolizer(options: SymbolizerOptions = {}): Symbolizer {
  return new Symbolizer({ demangle: binding.demangle, xzDecompress: binding.xzDecompress, ...options });
}

let sharedSymbolizer: Symbolizer | undefined;
function symbolizer(): Symbolizer {
  sharedSymbolizer ??= createSymbolizer({ modules: modules() });
  return sharedSymbolizer;
}

function symbolizerOf(origin: Origin): Symbolizer {
  return origin.symbolizer ?? symbolizer();
}

function hex(n: bigint): string {
  return `0x${n.toString(16)}`;
}

/** The process name is its main thread's name, which the capture read already. */
function processName(pid: number, raw: RawCapture): string {
  const main = raw.threads.find((t) => t.tid === pid);
  if (main !== undefined && main.name !== '') return main.name;
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    return '';
  }
}

/** Options name thread ids: each must belong to the process. */
function checkThreads(pid: number, tids: number[]): void {
  for (const tid of tids) {
    if (!fs.existsSync(`/proc/${pid}/task/${tid}`)) {
      throw new InvalidOptionError(`options.threads: ${tid} is not a thread of pid ${pid}`);
    }
  }
}

interface Prepared {
  target: number;
  opts: ResolvedOptions;
  started: bigint;
  takenAt: string;
  /** Set when the target was taken on trust: its capture must confirm it (see confirmed). */
  trusted?: TrustedTarget;
}

function prepare(pid: unknown, options: SnapshotOptions | undefined): Prepared {
  const started = process.hrtime.bigint();
  const opts = resolveOptions(options);
  // A capture of every thread lists the leader, whose start time confirms a trusted target.
  const trusted = opts.raw.tids.length === 0 ? trustedTarget(pid) : undefined;
  const target = trusted?.tgid ?? checkTarget(pid);
  checkThreads(target, opts.raw.tids);
  return { target, opts, started, takenAt: new Date().toISOString(), trusted };
}

/**
 * The capture, if it is of the process prepare() meant; undefined when the target was taken on
 * trust and the capture failed or showed another process. The caller then starts again, and
 * checkTarget checks the pid whole (and explains a failure as it would have before).
 */
function confirmed(p: Prepared, raw: RawCapture | Error): RawCapture | undefined {
  if (p.trusted === undefined) {
    if (raw instanceof Error) throw raw;
    return raw;
  }
  if (raw instanceof Error) {
    forgetTarget(p.trusted);
    return undefined;
  }
  return confirmTarget(p.trusted, raw.leaderStartTime, (raw.liveThreads ?? 0) > 0) ? raw : undefined;
}

/** What a capture call threw, as an Error (the addon throws Errors; anything else is wrapped). */
const thrown = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

const FAILURES: Record<RawThreadCapture['status'], ThreadFailure | undefined> = {
  captured: undefined,
  exited: 'exited',
  timeout: 'timeout',
  failed: 'failed',
};

const NOT_UNWOUND: RawUnwound = {
  pcs: new BigUint64Array(0),
  methods: new Uint8Array(0),
  fps: new BigUint64Array(0),
  returnAddresses: new Uint8Array(0),
  end: 'end-of-chain', // not read: a thread that was not captured ends 'not-captured'
};

/**
 * Walks every captured stack natively: CFI where the module has .eh_frame, frame pointers
 * elsewhere. The modules' unwind tables come from the same module cache as the names.
 */
function unwindAll(raw: RawCapture, opts: ResolvedOptions, origin: Origin): RawUnwound[] {
  const captured = raw.threads.filter((t) => t.status === 'captured');
  const mappings = symbolizerOf(origin).modules.unwindMappings(origin.filesOf, raw.maps);
  const unwound = binding.unwind({
    arch: origin.arch,
    pid: origin.codeOf,
    maxFrames: opts.maxFrames,
    mappings: opts.framePointersOnly ? withoutCfi(mappings.rows) : mappings.rows,
    loadMapping: mappings.load,
    framePointersOnly: opts.framePointersOnly,
    stackScan: opts.stackScan,
    // One mask for the whole process: threads read without a stop have none of their own.
    pacMask: captured.find((t) => t.pacMask !== undefined)?.pacMask,
    // Each thread's `capture` says what its walk may use (RawUnwindThread).
    threads: captured,
  });
  const byThread = new Map<RawThreadCapture, RawUnwound>();
  captured.forEach((t, i) => byThread.set(t, unwound[i]));
  return raw.threads.map((t) => byThread.get(t) ?? NOT_UNWOUND);
}

/** The same mappings with no unwind tables (none pending): the unwinder then follows frame pointers only. */
function withoutCfi(mappings: BigUint64Array): BigUint64Array {
  const copy = mappings.slice();
  for (let i = 3; i < copy.length; i += 4) copy[i] &= 1n;
  return copy;
}

function rawFrames(u: RawUnwound): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < u.pcs.length; i++) {
    frames.push({
      pc: hex(u.pcs[i]),
      method: RAW_METHOD[u.methods[i]] ?? 'fp',
      returnAddress: u.returnAddresses[i] === 1,
      module: null,
      moduleOffset: null,
      symbol: null,
      symbolOffset: null,
    });
  }
  return frames;
}

/** Frames whose pc lies in the function at an ELF entry point (see finishStack). */
const AT_ENTRY_POINT = new WeakSet<Frame>();

/** Every frame's pc, and whether the unwinder found it a return address, in thread order. */
function framePcs(unwound: RawUnwound[], perThread: Frame[][]): PcToName[] {
  const pcs: PcToName[] = [];
  unwound.forEach((u, ti) => {
    perThread[ti].forEach((f, i) => pcs.push({ pc: u.pcs[i], isReturnAddress: f.returnAddress }));
  });
  return pcs;
}

/** Without naming, each frame still says which mapping it is in, and where (no file is opened). */
function placeFrames(raw: RawCapture, unwound: RawUnwound[], perThread: Frame[][]): void {
  const maps = parseMaps(raw.maps);
  const pcs = framePcs(unwound, perThread);
  perThread.flat().forEach((f, k) => {
    const { pc, isReturnAddress } = pcs[k];
    const m = findMapping(maps, lookupAddress(pc, isReturnAddress));
    if (m === undefined) return;
    const at = placeInMapping(m, pc);
    f.module = at.module;
    f.moduleOffset = hex(at.moduleOffset);
  });
}

/** Names every frame of every thread in one pass over the symbolizer. */
function nameFrames(
  raw: RawCapture,
  unwound: RawUnwound[],
  perThread: Frame[][],
  origin: Origin,
  opts: ResolvedOptions,
  cache?: PcNameCache,
): void {
  const pcs = framePcs(unwound, perThread);
  const lines = opts.lines;
  const symbolize = (some: PcToName[]) => symbolizerOf(origin).symbolize(origin.filesOf, raw.maps, some, { lines });
  const named = cache === undefined ? symbolize(pcs) : cache.name(raw.maps, pcs, lines, symbolize);
  let k = 0;
  perThread.forEach((frames, ti) => {
    // With `lines`, a physical frame with inlined calls becomes those calls (innermost first) and then itself.
    let expanded: Frame[] | undefined;
    frames.forEach((f, i) => {
      const n = named[k++];
      f.module = n.module;
      f.moduleOffset = n.moduleOffset === null ? null : hex(n.moduleOffset);
      f.symbol = n.symbol;
      f.symbolOffset = n.symbolOffset;
      if (n.reason !== undefined) f.symbolReason = n.reason;
      if (n.detail !== undefined) f.symbolDetail = n.detail;
      if (n.atEntryPoint) AT_ENTRY_POINT.add(f);
      if (n.file !== undefined) {
        f.file = n.file;
        f.line = n.line;
      }
      if (n.inlined !== undefined) {
        expanded ??= frames.slice(0, i);
        for (const c of n.inlined) expanded.push(inlinedFrame(f, c));
      }
      expanded?.push(f);
    });
    if (expanded !== undefined) perThread[ti] = expanded;
  });
}

/** A call inlined at a physical frame's pc: same pc, method and module (see Frame.inlined). */
function inlinedFrame(physical: Frame, c: InlinedName): Frame {
  const f: Frame = {
    pc: physical.pc,
    method: physical.method,
    returnAddress: physical.returnAddress,
    module: physical.module,
    moduleOffset: physical.moduleOffset,
    symbol: c.symbol,
    symbolOffset: null,
  };
  if (c.file !== undefined) {
    f.file = c.file;
    f.line = c.line;
  }
  f.inlined = true;
  return f;
}

/** Where a capture comes from: the live process, or a file (unwound later, perhaps elsewhere). */
export interface Origin {
  arch: Arch;
  /** Whose /proc/<pid>/map_files the module files are opened through (OFFLINE: by path only). */
  filesOf: number;
  /** Whose memory the unwinder may read code from (0: none). */
  codeOf: number;
  /** Names and unwind tables from a symbolizer of its own (a capture file's recorded modules);
   *  default: the shared one, which opens the module files. */
  symbolizer?: Symbolizer;
  command?: string;
  schedule: Schedule;
  takenAt: string;
}

/** The pid used for a capture read from a file: no /proc entry, so files are opened by path. */
export const OFFLINE = -1;

export function liveOrigin(pid: number, schedule: Schedule, takenAt: string): Origin {
  return { arch: binding.arch, filesOf: pid, codeOf: pid, schedule, takenAt };
}

/**
 * A live capture bound for a file: walked as it will be unwound from the file, without reading
 * the target's code. A stack only code could finish (a blocked thread's %rbp from its caller's
 * prologue) then asks for the registers, which the file keeps.
 */
export function fileBoundOrigin(pid: number, schedule: Schedule, takenAt: string): Origin {
  return { ...liveOrigin(pid, schedule, takenAt), codeOf: 0 };
}

/** The walk of a capture's threads, and what it cost. */
export interface Walked {
  unwound: RawUnwound[];
  walkNs: number;
  /** Time loading modules for it (part of walkNs). */
  loadNs: number;
}

function walk(raw: RawCapture, opts: ResolvedOptions, origin: Origin): Walked {
  const loadBefore = symbolizerOf(origin).modules.stats.loadNs;
  const walkStart = process.hrtime.bigint();
  const unwound = unwindAll(raw, opts, origin);
  return {
    unwound,
    walkNs: Number(process.hrtime.bigint() - walkStart),
    loadNs: symbolizerOf(origin).modules.stats.loadNs - loadBefore,
  };
}

/** Walks the threads at indexes again (after they were captured again) into walked. */
function walkAgain(raw: RawCapture, indexes: number[], opts: ResolvedOptions, origin: Origin, walked: Walked): void {
  const again = walk({ ...raw, threads: indexes.map((i) => raw.threads[i]) }, opts, origin);
  indexes.forEach((i, k) => (walked.unwound[i] = again.unwound[k]));
  walked.walkNs += again.walkNs;
  walked.loadNs += again.loadNs;
}

/** Each thread of the capture as a ThreadStack: its frames cut at its entry, or why it has none. */
function judgeThreads(
  raw: RawCapture,
  unwound: RawUnwound[],
  perThread: Frame[][],
  opts: ResolvedOptions,
): ThreadStack[] {
  return raw.threads.map((t, i) => {
    const failure = FAILURES[t.status];
    if (failure !== undefined) {
      const failed = threadStack(t, [], 'not-captured', false);
      failed.failure = failure;
      if (failure === 'failed') failed.failureCode = errnoName(t.errno) ?? `errno ${t.errno}`;
      if (failure === 'failed' && t.tracerPid) failed.tracer = { pid: t.tracerPid, command: readComm(t.tracerPid) };
      return failed;
    }
    const end = unwound[i].end;
    if (!opts.symbolize) {
      const unjudged = threadStack(t, perThread[i], end, false);
      unjudged.notJudged = true;
      return unjudged;
    }
    const finished = finishStack(perThread[i], end, (k) => AT_ENTRY_POINT.has(perThread[i][k]));
    return threadStack(t, finished.frames, finished.end, finished.complete);
  });
}

/**
 * A thread's stack with its fields in the order output shows them, set one by one: object
 * spreads cost ~1.5 µs a thread (judging the bench target's 10 threads took 22 µs, now 8).
 */
function threadStack(t: RawThreadCapture, frames: Frame[], end: EndReason, complete: boolean): ThreadStack {
  const s = { tid: t.tid, name: t.name, state: t.state, pauseNs: t.pauseNs, capture: t.capture } as ThreadStack;
  if (t.weightNs !== undefined) s.weightNs = t.weightNs;
  if (t.captureFallback !== '') s.captureFallback = t.captureFallback;
  s.stackBytes = t.stackBytes;
  s.frames = frames;
  s.end = end;
  s.complete = complete;
  return s;
}

/**
 * Each frame's frame pointer, by frame object: inlined frames (added by naming) have none. Built
 * on first use: only a process with a runtime asks (a map per thread cost a C target ~20 µs).
 */
function fpLookup(frames: Frame[], fps: BigUint64Array): (frame: Frame) => bigint | undefined {
  let byFrame: Map<Frame, bigint> | undefined;
  return (frame) => (byFrame ??= new Map(frames.map((f, k) => [f, fps[k]]))).get(frame);
}

/** Unwinds (unless walked already), names (from `cache` where it has them) and judges the threads of a raw capture. */
export function buildSnapshot(
  raw: RawCapture,
  opts: ResolvedOptions,
  started: bigint,
  origin: Origin,
  walked?: Walked,
  cache?: PcNameCache,
): Snapshot {
  const w = walked ?? walk(raw, opts, origin);
  const { unwound, walkNs } = w;
  const loadBefore = symbolizerOf(origin).modules.stats.loadNs;
  const perThread = unwound.map(rawFrames);
  const runtimes = opts.symbolize && opts.runtimeFrames && origin.codeOf > 0;
  const symStart = process.hrtime.bigint();
  const fpOfs = runtimes ? perThread.map((frames, i) => fpLookup(frames, unwound[i].fps)) : [];
  if (opts.symbolize) nameFrames(raw, unwound, perThread, origin, opts, cache);
  else placeFrames(raw, unwound, perThread);
  const nativeNs = Number(process.hrtime.bigint() - symStart);
  const threads = judgeThreads(raw, unwound, perThread, opts);
  // Runtime frames go in once the native stacks are final: read from the live target's memory
  // (after it resumed); a saved capture has no process to read.
  const runtimeStart = process.hrtime.bigint();
  if (runtimes) {
    const runtimeThreads = threads.map((thread, i) => {
      const stack = { base: raw.threads[i].sp, bytes: raw.threads[i].stack };
      return { thread, fpOf: fpOfs[i], stack };
    });
    nameRuntimeFrames(origin.codeOf, raw.maps, runtimeThreads);
  }
  const symbolizeNs = nativeNs + Number(process.hrtime.bigint() - runtimeStart);

  const shot: Snapshot = {
    version: SNAPSHOT_VERSION,
    pid: raw.pid,
    command: origin.command ?? processName(raw.pid, raw),
    schedule: origin.schedule,
    takenAt: origin.takenAt,
    threads,
    cost: {
      totalNs: Number(process.hrtime.bigint() - started),
      pauseNsMax: threads.reduce((m, t) => Math.max(m, t.pauseNs), 0),
      walkNs,
      symbolizeNs,
      modulesNs: w.loadNs + symbolizerOf(origin).modules.stats.loadNs - loadBefore,
      bytesCopied: raw.bytesCopied,
    },
  };
  if (raw.execDuringCapture) shot.execDuringCapture = true;
  return shot;
}

export interface Captured {
  raw: RawCapture;
  opts: ResolvedOptions;
  started: bigint;
  origin: Origin;
  /** The walk, done at capture time to find threads a stop-free capture cannot serve. */
  walked: Walked;
}

/** Walks a fresh capture; returns the threads to capture again with ptrace (stop-fallback.ts). */
function firstWalk(c: Omit<Captured, 'walked'>): Captured {
  return { ...c, walked: walk(c.raw, c.opts, c.origin) };
}

/** Puts the stopped captures of those threads in place and walks them. */
function useStopped(c: Captured, again: RawCapture, why: Map<number, CaptureFallback>): Captured {
  walkAgain(c.raw, mergeStopped(c.raw, again, why), c.opts, c.origin, c.walked);
  return c;
}

/**
 * A refusal that no permission rule explains (we are allowed, nobody else traces the target):
 * in practice the target is inside execve, whose threads refuse an attach for a moment.
 * Worth trying again; a real refusal is explained and thrown at once.
 */
const RETRIES_UNEXPLAINED = 3;
const RETRY_DELAY_MS = 10;
function transient(err: StackshotError): boolean {
  return err.code === 'EPERM' && err.reason === 'unknown';
}

/**
 * What record() brings from its perf recorder: running threads already sampled. The capture
 * then leaves those out while they run; with `sampledOnly` (on-CPU profiles) it also leaves
 * out every thread that is not running (so it captures only running threads the recorder does
 * not cover yet, e.g. born since its last look).
 */
export interface Sampled {
  threads: RawThreadCapture[];
  /** Threads the recorder samples: left out of the capture while running. */
  covered: number[];
  sampledOnly: boolean;
}

function withSampled(raw: RawCapture, sampled: Sampled | undefined): RawCapture {
  if (sampled === undefined) return raw;
  const bytes = sampled.threads.reduce((n, t) => n + t.stackBytes, 0);
  return { ...raw, threads: [...raw.threads, ...sampled.threads], bytesCopied: raw.bytesCopied + bytes };
}

/**
 * Copies every thread's registers and stack: running threads sampled by perf events where
 * allowed, the others stopped and resumed (off the JS thread); nothing is unwound yet (but
 * perf-sampled threads, to find any the sample cut short).
 */
export async function capture(
  pid: number,
  options?: SnapshotOptions,
  sampled?: Sampled,
  originOf: typeof liveOrigin = liveOrigin,
): Promise<Captured> {
  const prepared = prepare(pid, options);
  const { target, opts, started, takenAt } = prepared;
  for (let attempt = 0; ; attempt++) {
    try {
      const origin = originOf(target, opts.schedule, takenAt);
      const asked = { ...opts.raw, sampledElsewhere: sampled?.covered, onlyRunning: sampled?.sampledOnly };
      const others = confirmed(prepared, await binding.capture(target, asked).catch(thrown));
      if (others === undefined) return capture(pid, options, sampled, originOf);
      const c = firstWalk({ raw: withSampled(others, sampled), opts, started, origin });
      const redo = threadsNeedingStop(c.raw, c.walked.unwound);
      if (redo.size === 0) return c;
      // If even that fails (the process ended), the stop-free copies stand, their walks cut short.
      return await binding.capture(target, stopOptions(opts.raw, [...redo.keys()])).then(
        (again) => useStopped(c, again, redo),
        () => c,
      );
    } catch (err) {
      const e = toStackshotError(target, err);
      if (!transient(e) || attempt >= RETRIES_UNEXPLAINED) throw e;
      await new Promise((r) => setTimeout(r, RETRY_DELAY_MS));
    }
  }
}

export function captureSync(pid: number, options?: SnapshotOptions): Captured {
  const prepared = prepare(pid, options);
  const { target, opts, started, takenAt } = prepared;
  for (let attempt = 0; ; attempt++) {
    try {
      let taken: RawCapture | Error;
      try {
        taken = binding.captureSync(target, opts.raw);
      } catch (err) {
        taken = thrown(err);
      }
      const raw = confirmed(prepared, taken);
      if (raw === undefined) return captureSync(pid, options);
      const c = firstWalk({ raw, opts, started, origin: liveOrigin(target, opts.schedule, takenAt) });
      const redo = threadsNeedingStop(c.raw, c.walked.unwound);
      if (redo.size === 0) return c;
      try {
        return useStopped(c, binding.captureSync(target, stopOptions(opts.raw, [...redo.keys()])), redo);
      } catch {
        return c; // the process ended: the stop-free copies stand, their walks cut short
      }
    } catch (err) {
      const e = toStackshotError(target, err);
      if (!transient(e) || attempt >= RETRIES_UNEXPLAINED) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RETRY_DELAY_MS);
    }
  }
}

/** Captures and names the stack of every thread of pid, off the JS thread. */
export async function snapshot(pid: number, options?: SnapshotOptions): Promise<Snapshot> {
  const c = await capture(pid, options);
  return buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked);
}

/** The same as snapshot(), blocking the calling thread for the capture (~1 ms). */
export function snapshotSync(pid: number, options?: SnapshotOptions): Snapshot {
  const c = captureSync(pid, options);
  return buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked);
}
