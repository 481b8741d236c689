// explain(pid): where would a frame-pointer-only profiler (perf --call-graph fp) lose each
// thread's stack, and did stackshot's hybrid (CFI + frame pointer) walk get it back?
//
// ONE capture (each thread stopped once, its stack copied once) is unwound TWICE: in the
// default hybrid mode and in frame-pointer-only mode (`unwind: 'fp'`). Both walks therefore
// see exactly the same registers and stack bytes, so comparing them frame by frame is exact;
// two separate snapshots would differ on every running thread.
//
// Per thread: the frames both walks agree on form a common prefix (same pc). The last common
// frame is where the chain broke: its function did not keep %rbp / x29 as a frame pointer (or
// had not set it up yet), so the fp walk's next step read a stale or garbage frame pointer. Its
// module is "the breaker". The next frame of the hybrid stack is the first one the fp walk missed.
import { capture, buildSnapshot } from '../snapshot';
import type { Frame, Snapshot, SnapshotOptions, ThreadStack } from '../types';
import type { ExplainFrame, ExplainReport, ExplainThread } from './types';

export type ExplainOptions = Pick<
  SnapshotOptions,
  'schedule' | 'threads' | 'maxFrames' | 'stackBytes' | 'stopTimeoutMs'
>;

function frameAt(frames: Frame[], i: number): ExplainFrame | null {
  const f = frames[i];
  return f === undefined ? null : { index: i, pc: f.pc, symbol: f.symbol, module: f.module };
}

/** Compares the fp-only and hybrid walks of one thread. */
export function compareThread(fp: ThreadStack, hybrid: ThreadStack): ExplainThread {
  const base = {
    tid: hybrid.tid,
    name: hybrid.name,
    fp: { frames: fp.frames.length, complete: fp.complete, end: fp.end },
    hybrid: { frames: hybrid.frames.length, complete: hybrid.complete, end: hybrid.end },
    recovered: hybrid.complete,
  };
  if (hybrid.failure !== undefined || fp.failure !== undefined) {
    return { ...base, status: 'not-captured', brokeAt: null, missed: null };
  }
  const n = Math.min(fp.frames.length, hybrid.frames.length);
  let common = 0;
  while (common < n && fp.frames[common].pc === hybrid.frames[common].pc) common++;
  let status: ExplainThread['status'];
  if (!fp.complete) status = 'cut-short';
  // Complete, but the walks diverged before the fp walk's end: it jumped over frames. (When the
  // fp stack is a prefix of the hybrid one, the fp walk merely stopped at an earlier entry
  // frame, start_thread rather than clone3: nothing is missing.)
  else if (hybrid.complete && common < fp.frames.length) status = 'skipped-frames';
  else status = 'intact';
  if (status === 'intact') return { ...base, status, brokeAt: null, missed: null };
  return {
    ...base,
    status,
    brokeAt: common > 0 ? frameAt(hybrid.frames, common - 1) : null,
    missed: frameAt(hybrid.frames, common),
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Builds the report from the two walks of one capture. */
export function explainSnapshots(fpShot: Snapshot, hybridShot: Snapshot): ExplainReport {
  const fpByTid = new Map(fpShot.threads.map((t) => [t.tid, t]));
  const threads: ExplainThread[] = [];
  for (const h of hybridShot.threads) {
    const f = fpByTid.get(h.tid);
    if (f !== undefined) threads.push(compareThread(f, h));
  }
  const captured = threads.filter((t) => t.status !== 'not-captured');
  const cut = captured.filter((t) => t.status === 'cut-short');
  const recovered = cut.filter((t) => t.recovered).length;
  const skipped = captured.filter((t) => t.status === 'skipped-frames').length;
  const counts = new Map<string, number>();
  for (const t of captured) {
    if (t.status === 'intact' || t.status === 'not-captured') continue;
    const m = t.brokeAt?.module ?? '(unknown)';
    counts.set(m, (counts.get(m) ?? 0) + 1);
  }
  const breakers = [...counts]
    .map(([module, n]) => ({ module, threads: n }))
    .sort((a, b) => b.threads - a.threads || a.module.localeCompare(b.module));
  let summary = `${cut.length} of ${plural(captured.length, 'thread')} would be cut short by a frame-pointer-only profiler (perf --call-graph fp); stackshot recovered ${recovered}`;
  if (skipped > 0) summary += `; ${plural(skipped, 'more thread')} would lose frames in the middle`;
  return {
    pid: hybridShot.pid,
    command: hybridShot.command,
    method: 'one capture, unwound twice: hybrid (CFI + frame pointers) and frame pointers only',
    threads,
    total: captured.length,
    cutShort: cut.length,
    recovered,
    skippedFrames: skipped,
    breakers,
    summary,
  };
}

/**
 * Captures every thread of `pid` once and unwinds the copy twice (hybrid and fp-only), then
 * explains, per thread, where the frame-pointer chain broke and whether CFI recovered it.
 */
export async function explain(pid: number, options: ExplainOptions = {}): Promise<ExplainReport> {
  // Stopped threads: the frame-pointer walk needs %rbp, which a stop-free capture lacks.
  const c = await capture(pid, { ...options, unwind: 'hybrid', capture: 'ptrace' });
  const hybrid = buildSnapshot(c.raw, { ...c.opts, framePointersOnly: false }, c.started, c.origin);
  const fp = buildSnapshot(c.raw, { ...c.opts, framePointersOnly: true }, c.started, c.origin);
  return explainSnapshots(fp, hybrid);
}
