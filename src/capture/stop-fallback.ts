// The TS half of the per-thread capture chooser. A stop-free capture of a blocked thread knows
// only its pc and sp; where the walk needs another register before a frame restored it from
// the stack (typically %rbp for a frame-pointer-compiled caller of a libc wrapper), the walk
// ends with 'register-unknown' and the thread is captured again with ptrace. The target
// loses nothing by it: the first capture never stopped the thread.
import type { RawCapture, RawCaptureOptions, RawUnwound } from '../addon';

/** Thread ids whose stop-free capture the walk could not finish. */
export function threadsNeedingStop(raw: RawCapture, unwound: RawUnwound[]): number[] {
  return raw.threads
    .filter((t, i) => t.capture !== 'ptrace' && unwound[i]?.end === 'register-unknown')
    .map((t) => t.tid);
}

/** The native options that capture just these threads again, each stopped alone. */
export function stopOptions(raw: RawCaptureOptions, tids: number[]): RawCaptureOptions {
  return { ...raw, tids, consistent: false, capture: 'ptrace' };
}

/**
 * Puts the stopped captures in place of the stop-free ones (their captureFallback says why)
 * and returns the indexes in raw.threads that changed.
 */
export function mergeStopped(raw: RawCapture, again: RawCapture): number[] {
  const changed: number[] = [];
  for (const t of again.threads) {
    const i = raw.threads.findIndex((old) => old.tid === t.tid);
    if (i < 0) continue;
    raw.bytesCopied += t.stackBytes - raw.threads[i].stackBytes;
    raw.threads[i] = { ...t, captureFallback: 'register-unknown' };
    changed.push(i);
  }
  raw.captureNs += again.captureNs;
  raw.totalNs += again.totalNs;
  return changed;
}
