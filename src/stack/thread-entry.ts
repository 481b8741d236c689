// When is a stack complete? When the walk reached the function the thread began in. These are
// the entry points of threads on Linux: the process entry (_start), the clone paths glibc, musl
// and bionic start new threads through, and Go's own (its runtime starts threads and goroutines
// without libc). Names are matched exactly, and a name a user function could also carry
// (musl's `start`) only in the module that defines it as an entry.
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
  // Go (names from .symtab; assembly functions carry their ABI as `.abi0`; a dot is no C name).
  'runtime.rt0_go', // the main thread, before the scheduler runs
  'runtime.rt0_go.abi0',
  'runtime.mstart', // every thread the runtime starts (after runtime.clone, or a cgo pthread)
  'runtime.mstart.abi0',
  'runtime.clone', // the child side of Go's own clone(2): the outermost frame of its threads
  'runtime.clone.abi0',
  'runtime.goexit', // the bottom of every goroutine's stack
  'runtime.goexit.abi0',
  // The scheduler's fresh start on a thread's g0 stack: mcall switches to it and the words
  // beyond are stale, not calls (Go's own traceback ends there too).
  'runtime.mcall',
]);

/** musl's thread start routines: static functions whose names user code may well reuse. */
const MUSL_ENTRIES = new Set(['start', 'start_c11']);

/** musl's libc (and its dynamic loader, the same file): /lib/ld-musl-x86_64.so.1, …/x86_64-linux-musl/libc.so. */
const MUSL_LIBC = /(^|\/)(ld-musl-[^/]+\.so\.1|libc\.musl-[^/]+\.so\.1|[^/]*musl[^/]*\/libc\.so)$/;

export function isThreadEntry(frame: Pick<Frame, 'symbol' | 'module'>): boolean {
  const { symbol, module } = frame;
  if (symbol === null) return false;
  if (THREAD_ENTRIES.has(symbol)) return true;
  return MUSL_ENTRIES.has(symbol) && module !== null && MUSL_LIBC.test(module);
}

/**
 * Cuts the frames after the thread's entry (a frame-pointer walk may run on into registers that
 * the entry function used as data) and decides completeness. The entry run is kept whole, so a
 * walk that shows start_thread and then clone3 keeps both. `atEntryPoint(i)` says whether frame
 * i lies in the function at an ELF entry point (e_entry): the process entry even when stripped
 * or named by a size-0 symbol.
 */
export function finishStack(
  frames: Frame[],
  walkEnd: EndReason,
  atEntryPoint: (index: number) => boolean = () => false,
): { frames: Frame[]; end: EndReason; complete: boolean } {
  const entry = (i: number): boolean => isThreadEntry(frames[i]) || atEntryPoint(i);
  const first = frames.findIndex((_f, i) => entry(i));
  if (first === -1) return { frames, end: walkEnd, complete: false };
  let last = first;
  while (last + 1 < frames.length && entry(last + 1)) last++;
  return { frames: frames.slice(0, last + 1), end: 'thread-entry', complete: true };
}
