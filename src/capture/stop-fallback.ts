// The TS half of the per-thread capture chooser: a stop-free capture the walk could not finish
// is taken again with ptrace. The target loses nothing by it: the first capture never stopped
// the thread. Two cases:
// - a blocked thread's capture knows only its pc and sp; where the walk needs another register
//   before a frame restored it from the stack (typically %rbp for a frame-pointer-compiled
//   caller of a libc wrapper), it ends with 'register-unknown';
// - a perf sample holds at most just under 64 KiB of stack (the kernel's limit on one record),
//   and less where the kernel's copy met a page it could not read without a fault (a page
//   that is in memory, but not mapped in the page tables right then): a deeper stack must not
//   come out silently cut, nor a page the stopped copy can read be called unreadable.
import type { RawCapture, RawCaptureOptions, RawThreadCapture, RawUnwound } from '../addon';
import type { CaptureFallback } from '../types';

/** A perf sample's walk ended where its copy ended: the sample was short, whatever the reason. */
const SAMPLE_SHORT: ReadonlySet<RawUnwound['end']> = new Set([
  'copy-exhausted',
  'stack-unreadable',
  'interrupted-stack-unreadable',
]);

/** Why a stop-free capture's walk needs the thread stopped after all (undefined: it does not). */
function stopReason(t: RawThreadCapture, u: RawUnwound | undefined): CaptureFallback | undefined {
  if (t.capture === 'ptrace' || u === undefined) return undefined;
  if (u.end === 'register-unknown') return 'register-unknown';
  if (t.capture === 'perf' && SAMPLE_SHORT.has(u.end)) return 'sample-too-short';
  return undefined;
}

/** Thread ids whose stop-free capture the walk could not finish, and why. */
export function threadsNeedingStop(raw: RawCapture, unwound: RawUnwound[]): Map<number, CaptureFallback> {
  const out = new Map<number, CaptureFallback>();
  raw.threads.forEach((t, i) => {
    const why = stopReason(t, unwound[i]);
    if (why !== undefined) out.set(t.tid, why);
  });
  return out;
}

/** The native options that capture just these threads again, each stopped alone. */
export function stopOptions(raw: RawCaptureOptions, tids: number[]): RawCaptureOptions {
  return { ...raw, tids, consistent: false, capture: 'ptrace' };
}

/**
 * Puts the stopped captures in place of the stop-free ones (their captureFallback says why)
 * and returns the indexes in raw.threads that changed.
 */
export function mergeStopped(raw: RawCapture, again: RawCapture, why: Map<number, CaptureFallback>): number[] {
  const changed: number[] = [];
  for (const t of again.threads) {
    const i = raw.threads.findIndex((old) => old.tid === t.tid);
    const reason = why.get(t.tid);
    if (i < 0 || reason === undefined) continue;
    raw.bytesCopied += t.stackBytes - raw.threads[i].stackBytes;
    raw.threads[i] = { ...t, captureFallback: reason };
    changed.push(i);
  }
  raw.maps = again.maps; // read last: it knows every mapping the new copies point into
  raw.captureNs += again.captureNs;
  raw.totalNs += again.totalNs;
  return changed;
}
