// The common ground of the profile formats (folded, speedscope, pprof, flame graph): snapshots
// folded into interned functions, locations and stacks, with one sample track per thread.
// Every format renders from a ProfileBuilder, so a long recording is aggregated as it goes and
// never has to keep its snapshots in memory. Pure: no I/O, no clock.
import * as path from 'node:path';
import type { Frame, Snapshot, ThreadStack } from '../types';
import { lookupAddress } from '../stack/lookup-address';

/** Which thread samples count: on-CPU (state R), off-CPU (any other state), or all. */
export type StateFilter = 'running' | 'blocked' | 'all';

export const STATE_FILTERS: readonly StateFilter[] = ['running', 'blocked', 'all'];

/** Options every profile format takes. */
export interface ProfileOptions {
  /** Keep only the samples of threads in this scheduler state (default 'all'). */
  state?: StateFilter;
  /**
   * The nominal wall time one sample stands for, in milliseconds (1000 / hz of the recording).
   * When absent it is inferred from the snapshots' times (their mean spacing), if there are at
   * least two. A sample weighs the real interval since the previous snapshot (so a recording
   * that fell behind still adds up to its wall time), a recording's perf-event sample the run
   * time the kernel counted for it (ThreadStack.weightNs); the nominal interval is the weight
   * of the first snapshot's samples.
   */
  intervalMs?: number;
}

/** True when a thread's state passes the filter: 'running' is R, 'blocked' is every other state. */
export function threadMatchesState(thread: Pick<ThreadStack, 'state'>, state: StateFilter = 'all'): boolean {
  if (state === 'all') return true;
  return (thread.state === 'R') === (state === 'running');
}

/** A thread is a sample of a profile when it has frames and its state passes the filter. */
export function isThreadSample(thread: Pick<ThreadStack, 'state' | 'frames'>, state: StateFilter = 'all'): boolean {
  return thread.frames.length > 0 && threadMatchesState(thread, state);
}

/** A copy of the snapshot holding only the threads whose state passes the filter. */
export function filterSnapshotByState(shot: Snapshot, state: StateFilter = 'all'): Snapshot {
  if (state === 'all') return shot;
  return { ...shot, threads: shot.threads.filter((t) => threadMatchesState(t, state)) };
}

/**
 * A frame name safe for every format: no ';' (the folded separator, replaced by ':'), no line
 * breaks or other control characters (replaced by a space), never empty.
 */
export function sanitizeName(name: string): string {
  const s = name
    .replace(/;/g, ':')
    // eslint-disable-next-line no-control-regex -- control characters are what it removes
    .replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ')
    .trim();
  return s === '' ? '[unknown]' : s;
}

/** What a frame is called: its symbol, else `module+0xoffset` (module base name), else `[unknown]`. */
export function frameName(frame: Pick<Frame, 'symbol' | 'module' | 'moduleOffset' | 'kind'>): string {
  if (frame.kind === 'js') return sanitizeName(frame.symbol || '(anonymous)');
  if (frame.symbol) return sanitizeName(frame.symbol);
  if (frame.module && frame.moduleOffset) return sanitizeName(`${path.basename(frame.module)}+${frame.moduleOffset}`);
  return '[unknown]';
}

function parseHex(s: string | null | undefined): bigint | null {
  if (typeof s !== 'string' || !/^0x[0-9a-f]+$/i.test(s)) return null;
  return BigInt(s);
}

export interface FunctionEntry {
  /** Sanitized frame name (see frameName). */
  name: string;
  /** Module path, or null when unknown. */
  module: string | null;
  /** Source file, when the frames came with lines (`lines`). */
  file?: string;
}

export interface LocationEntry {
  /** Address looked up for this frame: pc for the innermost and signal frames, pc - 1 for return addresses. Null when the pc was not a valid address. */
  address: bigint | null;
  module: string | null;
  /** pc - moduleOffset: where file offset 0 of the module would be mapped. Null when unknown. */
  base: bigint | null;
  /** Index into ProfileBuilder.functions. */
  fn: number;
  /** Source line of the address in the function, when the frames came with lines (`lines`). */
  line?: number;
}

export interface ThreadTrack {
  tid: number;
  /** The thread's name in its latest sample. */
  name: string;
  /** Per sample: index into ProfileBuilder.stacks. */
  stacks: number[];
  /** Per sample: capture time in ms since the epoch (from the snapshot's takenAt). */
  times: number[];
  /**
   * Per sample: the time it stands for, in ms: the real interval since the previous snapshot
   * (a recording that fell behind spaces them wider), the run time a recording's perf-event
   * sample stands for (its weightNs), or NaN for one nominal interval (the first snapshot).
   * See ProfileBuilder.weightsMs.
   */
  gaps: number[];
  /** Per sample: the thread's scheduler state letter. */
  states: string[];
}

/** Snapshots folded into interned tables. Add snapshots with add(); formats read the tables. */
export class ProfileBuilder {
  readonly functions: FunctionEntry[] = [];
  readonly locations: LocationEntry[] = [];
  /** Each stack: location indices from the root (outermost) to the leaf (innermost). */
  readonly stacks: number[][] = [];
  /** By tid, in the order threads were first seen. */
  readonly threads = new Map<number, ThreadTrack>();
  /** Snapshots added. */
  snapshots = 0;
  /** Thread samples kept (a thread with frames in a snapshot, passing the state filter). */
  samples = 0;
  /** Earliest and latest capture time (ms since the epoch); NaN before the first snapshot. */
  startMs = NaN;
  endMs = NaN;
  /** Capture time of the latest snapshot added (the next one's interval starts there). */
  private lastMs = NaN;
  pid: number | null = null;
  command = '';
  /** The module of the main thread's outermost frame (`_start`): the executable, when known. */
  mainModule: string | null = null;

  private readonly fnIndex = new Map<string, number>();
  private readonly locIndex = new Map<string, number>();
  private readonly stackIndex = new Map<string, number>();

  constructor(readonly state: StateFilter = 'all') {}

  /** Fold one snapshot in. Threads without frames (not captured) are not samples. */
  add(shot: Snapshot): this {
    this.snapshots++;
    this.pid ??= shot.pid;
    if (shot.command) this.command = shot.command;
    const t = Date.parse(shot.takenAt);
    const time = Number.isFinite(t) ? t : Number.isFinite(this.endMs) ? this.endMs : 0;
    if (!(time >= this.startMs)) this.startMs = time;
    if (!(time <= this.endMs)) this.endMs = time;
    // Snapshots come in capture order; clocks that step back give an interval of 0, not < 0.
    const gap = Number.isFinite(this.lastMs) ? Math.max(0, time - this.lastMs) : NaN;
    this.lastMs = time;
    for (const th of shot.threads) {
      if (th.tid === shot.pid && th.frames.length > 0)
        this.mainModule = th.frames[th.frames.length - 1]!.module ?? this.mainModule;
      if (!isThreadSample(th, this.state)) continue;
      const stack = this.internStack(th.frames);
      let track = this.threads.get(th.tid);
      if (track === undefined) {
        track = { tid: th.tid, name: th.name, stacks: [], times: [], states: [], gaps: [] };
        this.threads.set(th.tid, track);
      }
      if (th.name) track.name = th.name;
      track.stacks.push(stack);
      track.times.push(time);
      track.states.push(th.state);
      // A perf-event sample whose run time could not be counted (0) weighs one nominal interval.
      track.gaps.push(th.weightNs === undefined ? gap : th.weightNs > 0 ? th.weightNs / 1e6 : NaN);
      this.samples++;
    }
    return this;
  }

  /**
   * Wall time per sample of a track, in ms, with `interval` (see intervalMs) as the nominal
   * interval; undefined when no interval is known (then samples are only counted).
   */
  weightsMs(track: ThreadTrack, interval: number | undefined): number[] | undefined {
    if (interval === undefined) return undefined;
    return track.gaps.map((g) => (Number.isNaN(g) ? interval : g));
  }

  /** Wall time per sample in ms: the option, else the mean spacing of the snapshots, else undefined. */
  intervalMs(given?: number): number | undefined {
    if (given !== undefined && Number.isFinite(given) && given > 0) return given;
    if (this.snapshots >= 2 && this.endMs > this.startMs) return (this.endMs - this.startMs) / (this.snapshots - 1);
    return undefined;
  }

  /** Function indices of a stack, root first. */
  functionStack(stack: number): number[] {
    return this.stacks[stack]!.map((loc) => this.locations[loc]!.fn);
  }

  private internFunction(name: string, module: string | null, file: string | undefined, python: boolean): number {
    // Python functions share the interpreter's module: the same name in two source files is
    // two functions (`<module>`, `run`, ...).
    const key = python ? `${name}\0${module ?? ''}\0${file ?? ''}` : `${name}\0${module ?? ''}`;
    let i = this.fnIndex.get(key);
    if (i === undefined) {
      i = this.functions.length;
      this.functions.push({ name, module });
      this.fnIndex.set(key, i);
    }
    // A function's file is that of its lines (an inlined call has its own frame and function).
    if (file !== undefined) this.functions[i]!.file ??= file;
    return i;
  }

  private internLocation(frame: Frame): number {
    const pc = parseHex(frame.pc);
    const address = pc === null ? null : lookupAddress(pc, frame.returnAddress);
    const name = frameName(frame);
    // The place too: frames run by an interpreter share one pc (V8's trampoline, CPython's eval
    // loop); their function's file and line tell them apart.
    const at = address === null ? `?${frame.pc}` : address.toString(16);
    const key = `${at}\0${frame.module ?? ''}\0${name}\0${frame.file ?? ''}:${frame.line ?? ''}`;
    let i = this.locIndex.get(key);
    if (i === undefined) {
      const off = parseHex(frame.moduleOffset);
      const base = pc !== null && off !== null && frame.module !== null ? pc - off : null;
      i = this.locations.length;
      const loc: LocationEntry = {
        address,
        module: frame.module,
        base,
        fn: this.internFunction(name, frame.module, frame.file, frame.kind === 'python'),
      };
      if (frame.line !== undefined) loc.line = frame.line;
      this.locations.push(loc);
      this.locIndex.set(key, i);
    }
    return i;
  }

  private internStack(frames: Frame[]): number {
    const locs: number[] = new Array<number>(frames.length);
    // Frames are innermost first; stacks are stored root first.
    for (let i = 0; i < frames.length; i++) locs[frames.length - 1 - i] = this.internLocation(frames[i]!);
    const key = locs.join(',');
    let s = this.stackIndex.get(key);
    if (s === undefined) {
      s = this.stacks.length;
      this.stacks.push(locs);
      this.stackIndex.set(key, s);
    }
    return s;
  }
}

/** What the format functions accept: one snapshot, many, or an already built profile. */
export type ProfileInput = Snapshot | Iterable<Snapshot> | ProfileBuilder;

/** A ProfileBuilder holding the input (the builder itself when one is given). */
export function toBuilder(input: ProfileInput, opts: ProfileOptions = {}): ProfileBuilder {
  if (input instanceof ProfileBuilder) {
    if (opts.state !== undefined && opts.state !== input.state) {
      throw new RangeError(
        `the profile was built with state '${input.state}'; cannot render it with state '${opts.state}'`,
      );
    }
    return input;
  }
  const b = new ProfileBuilder(opts.state ?? 'all');
  if (isSnapshot(input)) return b.add(input);
  for (const s of input) b.add(s);
  return b;
}

function isSnapshot(x: unknown): x is Snapshot {
  return (
    typeof x === 'object' &&
    x !== null &&
    Array.isArray((x as Snapshot).threads) &&
    typeof (x as Snapshot).pid === 'number'
  );
}
