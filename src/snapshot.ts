// snapshot(pid): capture every thread natively, then name the frames and decide completeness.
import * as fs from 'node:fs';

import { binding, RAW_METHOD, type RawCapture, type RawThreadCapture } from './addon';
import { errnoName, toStackshotError } from './errors';
import { resolveOptions, InvalidOptionError, type ResolvedOptions } from './options';
import { checkTarget } from './procfs/preflight';
import { finishStack } from './stack/thread-entry';
import { Symbolizer, type PcToName } from './symbolize/symbolizer';
import type { EndReason, Frame, Snapshot, SnapshotOptions, ThreadFailure, ThreadStack } from './types';

// One symbolizer for the life of the process: its module cache is what makes a second snapshot cheap.
let sharedSymbolizer: Symbolizer | undefined;
function symbolizer(): Symbolizer {
  sharedSymbolizer ??= new Symbolizer({ demangle: binding.demangle });
  return sharedSymbolizer;
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

function prepare(pid: unknown, options: SnapshotOptions | undefined): { target: number; opts: ResolvedOptions; started: bigint; takenAt: string } {
  const started = process.hrtime.bigint();
  const opts = resolveOptions(options);
  const target = checkTarget(pid);
  checkThreads(target, opts.raw.tids);
  return { target, opts, started, takenAt: new Date().toISOString() };
}

const FAILURES: Record<RawThreadCapture['status'], ThreadFailure | undefined> = {
  captured: undefined,
  exited: 'exited',
  timeout: 'timeout',
  failed: 'failed',
};

function rawFrames(t: RawThreadCapture): Frame[] {
  const frames: Frame[] = [];
  for (let i = 0; i < t.pcs.length; i++) {
    frames.push({ pc: hex(t.pcs[i]), method: RAW_METHOD[t.methods[i]] ?? 'fp', module: null, moduleOffset: null, symbol: null, symbolOffset: null });
  }
  return frames;
}

/** Names every frame of every thread in one pass over the symbolizer. */
function nameFrames(raw: RawCapture, perThread: Frame[][]): void {
  const pcs: PcToName[] = [];
  raw.threads.forEach((t, ti) => {
    perThread[ti].forEach((f, i) => {
      // Return addresses point after the call: look them up at pc - 1 so a call that ends a
      // function is not named after the next one. Frame 0 and signal frames hold exact pcs.
      pcs.push({ pc: t.pcs[i], isReturnAddress: i > 0 && f.method !== 'signal' });
    });
  });
  const named = symbolizer().symbolize(raw.pid, raw.maps, pcs);
  let k = 0;
  for (const frames of perThread) {
    for (const f of frames) {
      const n = named[k++];
      f.module = n.module;
      f.moduleOffset = n.moduleOffset === null ? null : hex(n.moduleOffset);
      f.symbol = n.symbol;
      f.symbolOffset = n.symbolOffset;
    }
  }
}

function buildSnapshot(raw: RawCapture, opts: ResolvedOptions, started: bigint, takenAt: string): Snapshot {
  const perThread = raw.threads.map(rawFrames);
  const symStart = process.hrtime.bigint();
  if (opts.symbolize) nameFrames(raw, perThread);
  const symbolizeNs = Number(process.hrtime.bigint() - symStart);

  const threads: ThreadStack[] = raw.threads.map((t, i) => {
    const failure = FAILURES[t.status];
    const base = { tid: t.tid, name: t.name, state: t.state, pauseNs: t.pauseNs, stackBytes: t.stackBytes };
    if (failure !== undefined) {
      const failed: ThreadStack = { ...base, frames: [], end: 'not-captured', complete: false, failure };
      if (failure === 'failed') failed.failureCode = errnoName(t.errno) ?? `errno ${t.errno}`;
      return failed;
    }
    const finished = opts.symbolize ? finishStack(perThread[i], t.end as EndReason) : { frames: perThread[i], end: t.end as EndReason, complete: false };
    return { ...base, ...finished };
  });

  return {
    pid: raw.pid,
    command: processName(raw.pid, raw),
    schedule: opts.schedule,
    takenAt,
    threads,
    cost: {
      totalNs: Number(process.hrtime.bigint() - started),
      pauseNsMax: threads.reduce((m, t) => Math.max(m, t.pauseNs), 0),
      walkNs: raw.walkNs,
      symbolizeNs,
      bytesCopied: raw.bytesCopied,
    },
  };
}

/** Captures and names the stack of every thread of pid, off the JS thread. */
export async function snapshot(pid: number, options?: SnapshotOptions): Promise<Snapshot> {
  const { target, opts, started, takenAt } = prepare(pid, options);
  let raw: RawCapture;
  try {
    raw = await binding.capture(target, opts.raw);
  } catch (err) {
    throw toStackshotError(target, err);
  }
  return buildSnapshot(raw, opts, started, takenAt);
}

/** The same as snapshot(), blocking the calling thread for the capture (~1 ms). */
export function snapshotSync(pid: number, options?: SnapshotOptions): Snapshot {
  const { target, opts, started, takenAt } = prepare(pid, options);
  let raw: RawCapture;
  try {
    raw = binding.captureSync(target, opts.raw);
  } catch (err) {
    throw toStackshotError(target, err);
  }
  return buildSnapshot(raw, opts, started, takenAt);
}
