// The runtime resolvers, applied in one place: frames of code a runtime runs (V8's JavaScript,
// CPython's Python) named from the runtime's own memory, read after the target resumed (pauses
// do not grow). They work per thread rather than per pc: a JavaScript frame is read through
// its frame pointer and the copied stack, and a Python frame is paired with the native eval
// frame that runs it. They run once the native stacks are final (named and judged complete).
import type { ThreadStack } from '../../types';
import { addPythonFrames } from './cpython';
import { resolveV8Frames, type FramesWithFp } from './v8';

/** A thread as the runtime resolvers take it: its stack, and what its walk knew of each frame. */
export interface RuntimeThread {
  thread: ThreadStack;
  fpOf: FramesWithFp['fpOf'];
  stack?: FramesWithFp['stack'];
}

/** Names the JavaScript and Python frames of every thread of a live process (pid). */
export function nameRuntimeFrames(pid: number, maps: string, threads: RuntimeThread[]): void {
  // V8 inlined frames are spliced into each thread's frames in place.
  resolveV8Frames(
    pid,
    maps,
    threads.map((t) => ({ frames: t.thread.frames, fpOf: t.fpOf, stack: t.stack })),
  );
  addPythonFrames(
    pid,
    maps,
    threads.map((t) => t.thread),
  );
}
