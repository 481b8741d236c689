// record(pid, options): sample a process's stacks at a fixed rate, as an async iterator of
// Snapshots.
//
//   const rec = record(pid, { hz: 99, durationMs: 3000 });
//   for await (const shot of rec) builder.add(shot);
//   console.log(rec.stats); // samples, dropped, achieved rate, why it ended
//
// Timing: sample k is due at start + k / hz (absolute deadlines, so waiting and capture costs
// never accumulate into drift); the start is the end of the first capture, which warms the caches. When a capture (or the consumer's work between two samples)
// runs past the next deadline, the slots that went by are counted as dropped and sampling
// resumes at the next slot still ahead. The symbolizer's module caches are process-wide, so
// every sample after the first reuses them.
//
// The end: the duration elapsed, stop() was called, the AbortSignal fired, maxSamples was
// reached, or the target exited (ESRCH in the middle of a recording is the end, not an error).
// A failure before the first sample (bad pid, EPERM, ...) is thrown from the iterator.
import * as fs from 'node:fs';
import { PerfOnCpu } from './record-perf';
import { buildSnapshot, capture } from './snapshot';
import { PcNameCache } from './symbolize/pc-name-cache';
import { StackshotError } from './errors';
import { InvalidOptionError, rejectUnknownOptions, SNAPSHOT_OPTION_KEYS } from './options';
import { filterSnapshotByState, isThreadSample, STATE_FILTERS, type StateFilter } from './output/profile';
import type { CapturePath, Snapshot, SnapshotOptions } from './types';

export interface RecordOptions extends SnapshotOptions {
  /** Samples per second (default 99: not a multiple of common timer rates). At most 10000. */
  hz?: number;
  /** How long to record, in ms (default: until stopped, aborted or the target exits). */
  durationMs?: number;
  /** Stop after this many samples. */
  maxSamples?: number;
  /**
   * Keep only threads in this scheduler state in each yielded snapshot: 'running' (default:
   * on-CPU, state R, as perf, py-spy and 0x sample), 'blocked' (off-CPU) or 'all'.
   */
  state?: StateFilter;
  /** Stops the recording (the iterator then ends normally). */
  signal?: AbortSignal;
}

export type RecordEnd = 'duration' | 'stopped' | 'max-samples' | 'target-exited' | 'threads-exited';

export interface RecordStats {
  /** Snapshots taken (= yielded). */
  samples: number;
  /**
   * Thread samples in the yielded snapshots: threads with frames (the state filter applied).
   * Every profile format counts these same samples.
   */
  threadSamples: number;
  /** Slots missed because a snapshot (or the consumer) overran its slot. */
  dropped: number;
  /** Time since the schedule started (the end of the first capture), in ms. */
  elapsedMs: number;
  /** (samples - 1) / elapsed seconds: the rate sampling actually ran at. */
  achievedHz: number;
  /** The rate asked for. */
  hz: number;
  /** Why the recording ended; null while it runs. */
  end: RecordEnd | null;
  /**
   * Where running threads' stacks come from: 'perf' (kernel-timed samples, no stop), or
   * 'ptrace' (each slot's snapshot stops them: perf events refused, the consistent schedule,
   * or capture: 'ptrace').
   */
  onCpu: CapturePath;
  /** Why perf events were not used (an errno name; absent when they were, or were not asked for). */
  perfRefused?: string;
  /** On-CPU samples the kernel took but the recording dropped (full rings, a slow consumer). */
  perfLost: number;
  /**
   * On-CPU samples from perf events (onCpu 'perf'). Each slot's snapshot holds every one taken
   * since the previous slot, so a running thread may appear more than once in a snapshot.
   */
  perfSamples: number;
}

function bad(name: string, value: unknown, what: string): never {
  throw new InvalidOptionError(
    `options.${name}: ${what} (got ${typeof value === 'string' ? JSON.stringify(value) : String(value)})`,
  );
}

const RECORD_ONLY_KEYS = ['hz', 'durationMs', 'maxSamples', 'state', 'signal'] as const satisfies readonly Exclude<
  keyof RecordOptions,
  keyof SnapshotOptions
>[];

function checkRecordOptions(o: RecordOptions): {
  hz: number;
  durationMs: number;
  maxSamples: number;
  state: StateFilter;
} {
  rejectUnknownOptions(o, [...SNAPSHOT_OPTION_KEYS, ...RECORD_ONLY_KEYS]);
  const hz = o.hz ?? 99;
  if (typeof hz !== 'number' || !Number.isFinite(hz) || hz <= 0 || hz > 10_000)
    bad('hz', hz, 'expected a rate in (0, 10000]');
  const durationMs = o.durationMs ?? Infinity;
  if (typeof durationMs !== 'number' || Number.isNaN(durationMs) || durationMs <= 0)
    bad('durationMs', durationMs, 'expected a positive number of ms');
  const maxSamples = o.maxSamples ?? Infinity;
  if (typeof maxSamples !== 'number' || Number.isNaN(maxSamples) || maxSamples < 1)
    bad('maxSamples', maxSamples, 'expected a positive integer');
  const state = o.state ?? 'running';
  if (!STATE_FILTERS.includes(state)) bad('state', state, "expected 'running', 'blocked' or 'all'");
  return { hz, durationMs, maxSamples, state };
}

/** The process is gone (or a zombie): the normal end of a recording. */
function isGone(err: unknown, pid: number): boolean {
  if (err instanceof StackshotError && err.code === 'ESRCH') return true;
  return !processAlive(pid);
}

function processAlive(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.charAt(stat.lastIndexOf(')') + 2);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A recording in progress: iterate it once with for await; stop() ends it early. */
export class Recording implements AsyncIterable<Snapshot> {
  readonly stats: RecordStats;
  private stopped = false;
  private wake: (() => void) | undefined;
  private started = false;
  private readonly opts: ReturnType<typeof checkRecordOptions>;
  private readonly snapOpts: SnapshotOptions;
  private readonly onAbort = (): void => this.stop();
  private t0 = 0n;
  private perf: PerfOnCpu | undefined;
  /** Each distinct pc is named once per recording. */
  private readonly names = new PcNameCache();

  constructor(
    readonly pid: number,
    private readonly options: RecordOptions = {},
  ) {
    this.opts = checkRecordOptions(options);
    const { hz: _h, durationMs: _d, maxSamples: _m, state: _s, signal: _sig, ...snapOpts } = options;
    this.snapOpts = snapOpts;
    this.stats = {
      samples: 0,
      threadSamples: 0,
      dropped: 0,
      elapsedMs: 0,
      achievedHz: 0,
      hz: this.opts.hz,
      end: null,
      onCpu: 'ptrace',
      perfLost: 0,
      perfSamples: 0,
    };
  }

  /** End the recording: the iterator finishes after the capture in progress (never mid-capture). */
  stop(): void {
    this.stopped = true;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  [Symbol.asyncIterator](): AsyncIterator<Snapshot> {
    if (this.started) throw new Error('a Recording can be iterated only once');
    this.started = true;
    return this.run();
  }

  private updateTimes(): void {
    if (this.t0 === 0n) return;
    const ms = Number(process.hrtime.bigint() - this.t0) / 1e6;
    this.stats.elapsedMs = ms;
    // Intervals per second: the first sample is at the start of the clock.
    this.stats.achievedHz = ms > 0 && this.stats.samples > 1 ? ((this.stats.samples - 1) * 1000) / ms : 0;
  }

  /** Sleep until the absolute time `at` (hrtime ns), or until stop(). */
  private sleepUntil(at: bigint): Promise<void> {
    const ms = Number(at - process.hrtime.bigint()) / 1e6;
    if (ms <= 0 || this.stopped) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  private async capture(threads: number[] | undefined): Promise<Snapshot> {
    const o = threads === undefined ? this.snapOpts : { ...this.snapOpts, threads };
    if (this.perf === undefined) {
      // On-CPU only: threads not running are left out before they are stopped, not after.
      const onlyRunning = this.opts.state === 'running' ? { threads: [], covered: [], sampledOnly: true } : undefined;
      const c = await capture(this.pid, o, onlyRunning);
      return buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked, this.names);
    }
    // Running threads from the kernel's samples; blocked ones (off-CPU) from a capture that
    // leaves the sampled ones out (for an on-CPU-only recording: running threads it missed).
    const running = this.perf.next(threads);
    this.stats.perfLost = this.perf.lost;
    this.stats.perfSamples = this.perf.taken;
    const c = await capture(this.pid, o, {
      threads: running,
      covered: this.perf.covered,
      sampledOnly: this.opts.state === 'running',
    });
    return buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked, this.names);
  }

  /** Perf events for the running threads where they can serve: not for one cut (consistent), nor when ptrace is asked for. */
  private startPerf(): void {
    if (this.snapOpts.schedule === 'consistent' || this.snapOpts.capture === 'ptrace') return;
    const opened = PerfOnCpu.open(this.pid, this.opts.hz, this.snapOpts.stackBytes ?? 512 * 1024);
    if (typeof opened === 'string') {
      this.stats.perfRefused = opened;
      return;
    }
    this.perf = opened;
    this.stats.onCpu = 'perf';
  }

  private async *run(): AsyncGenerator<Snapshot> {
    const { signal } = this.options;
    if (signal?.aborted) this.stopped = true;
    signal?.addEventListener('abort', this.onAbort, { once: true });
    const periodNs = 1e9 / this.opts.hz;
    // Slots in the duration: k = 0, 1, ... while k * period < duration.
    const slots = Number.isFinite(this.opts.durationMs) ? Math.ceil((this.opts.durationMs * 1e6) / periodNs) : Infinity;
    let threads = this.snapOpts.threads?.slice();
    try {
      // A target that does not exist or refuses us refuses perf events too: the first capture
      // (a snapshot then) throws the error that explains it.
      this.startPerf();
      // The clock starts when the first capture is done: it loads the module and unwind caches
      // (tens of ms on a cold process), and that one-time cost must not count as dropped slots.
      this.t0 = 0n;
      let endAt: bigint | undefined;
      let k = 0;
      for (;;) {
        if (this.stopped) return this.finish('stopped');
        if (this.stats.samples >= this.opts.maxSamples) return this.finish('max-samples');
        if (this.t0 !== 0n) {
          const due = this.t0 + BigInt(Math.round(k * periodNs));
          if (endAt !== undefined && due >= endAt) return this.finish('duration');
          await this.sleepUntil(due);
          if (this.stopped) return this.finish('stopped');
        }

        let shot: Snapshot;
        try {
          shot = await this.capture(threads);
        } catch (err) {
          if (this.stats.samples === 0) throw err;
          if (isGone(err, this.pid)) return this.finish('target-exited');
          // A thread picked with `threads` exited: go on with the ones that are left.
          if (err instanceof InvalidOptionError && threads !== undefined) {
            threads = threads.filter((tid) => fs.existsSync(`/proc/${this.pid}/task/${tid}`));
            if (threads.length === 0) return this.finish('threads-exited');
            continue;
          }
          throw err;
        }
        // Every thread exited during the capture and the process is gone: the end.
        if (shot.threads.every((t) => t.failure === 'exited') && !processAlive(this.pid)) {
          return this.finish('target-exited');
        }
        if (this.t0 === 0n) {
          this.t0 = process.hrtime.bigint();
          if (Number.isFinite(this.opts.durationMs)) endAt = this.t0 + BigInt(Math.round(this.opts.durationMs * 1e6));
        }
        const kept = filterSnapshotByState(shot, this.opts.state);
        this.stats.samples++;
        this.stats.threadSamples += kept.threads.filter((t) => isThreadSample(t)).length;
        this.updateTimes();
        yield kept;

        // Next slot: k + 1, unless the capture and the consumer ran past it.
        const now = process.hrtime.bigint();
        const slotNow = Math.floor(Number(now - this.t0) / periodNs);
        const next = Math.max(k + 1, slotNow + (slotNow > k ? 1 : 0));
        // Slots past the end of the duration were never due: they are not dropped.
        this.stats.dropped += Math.max(0, Math.min(next, slots) - k - 1);
        k = next;
      }
    } finally {
      this.perf?.close();
      this.perf = undefined;
      signal?.removeEventListener('abort', this.onAbort);
      if (this.stats.end === null) this.finish('stopped');
    }
  }

  private finish(end: RecordEnd): void {
    this.stats.end = end;
    this.updateTimes();
  }
}

/** Sample pid's stacks at options.hz (default 99) until the duration elapses or the recording is stopped. */
export function record(pid: number, options: RecordOptions = {}): Recording {
  return new Recording(pid, options);
}
