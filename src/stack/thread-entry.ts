// When is a stack complete? When the walk reached the function the thread began in. These are
// the entry points of threads on Linux: the process entry (_start) and the clone paths glibc,
// musl and bionic start new threads through.
import type { EndReason, Frame } from '../types';

const THREAD_ENTRIES = new Set([
  '_start',
  '__start',
  'start_thread', // glibc: every pthread
  'clone',
  'clone3',
  '__clone',
  '__clone3',
  '__GI___clone',
  '__GI___clone3',
  'thread_start', // glibc aarch64 clone
  '__clone_internal',
  'start', // musl
]);

export function isThreadEntry(symbol: string | null): boolean {
  return symbol !== null && THREAD_ENTRIES.has(symbol);
}

/**
 * Cuts the frames after the thread's entry (a frame-pointer walk may run on into registers that
 * the entry function used as data) and decides completeness. The entry run is kept whole, so a
 * walk that shows start_thread and then clone3 keeps both.
 */
export function finishStack(
  frames: Frame[],
  walkEnd: EndReason,
): { frames: Frame[]; end: EndReason; complete: boolean } {
  const first = frames.findIndex((f) => isThreadEntry(f.symbol));
  if (first === -1) return { frames, end: walkEnd, complete: false };
  let last = first;
  while (last + 1 < frames.length && isThreadEntry(frames[last + 1].symbol)) last++;
  return { frames: frames.slice(0, last + 1), end: 'thread-entry', complete: true };
}
