// The one place that loads the native addon and states its exact types. Everything else in
// src/ imports from here and never touches the raw binding.
import * as path from 'node:path';

/** Options the native capture takes; every field is required at this boundary. */
export interface RawCaptureOptions {
  /** Thread ids to capture; empty means every thread of the process. */
  tids: number[];
  consistent: boolean;
  maxFrames: number;
  stackBytes: number;
  stopTimeoutMs: number;
  /** Read stacks through /proc/<pid>/mem instead of process_vm_readv (tests the fallback). */
  forceProcMem?: boolean;
}

/** Frame methods as the native walker numbers them. */
export const RAW_METHOD = ['regs', 'fp', 'cfi', 'signal', 'lr', 'sp'] as const;

export interface RawThreadCapture {
  tid: number;
  /** comm and state letter read from /proc/<pid>/task/<tid>/stat before the stop. */
  name: string;
  state: string;
  /** 'captured', or why not. */
  status: 'captured' | 'exited' | 'timeout' | 'failed';
  /** For status 'failed': errno and the call that failed. */
  errno: number;
  syscall: string;
  /** Signal that arrived while the thread was stopped and was handed back on detach (0 if none). */
  reinjectedSignal: number;
  pauseNs: number;
  /** Stack pointer at the stop and the number of bytes copied from it upward. */
  sp: bigint;
  stackBytes: number;
  /** Frame addresses, innermost first, and how each was found (index into RAW_METHOD). */
  pcs: BigUint64Array;
  methods: Uint8Array;
  /** Why the walk stopped (an EndReason other than 'thread-entry'). */
  end: string;
}

export interface RawCapture {
  pid: number;
  /** The text of /proc/<pid>/maps the walk validated against (re-read after the stops if it changed). */
  maps: string;
  threads: RawThreadCapture[];
  /** Time from the first stop to the last resume, the walk, and the whole native call. */
  captureNs: number;
  walkNs: number;
  totalNs: number;
  bytesCopied: number;
}

/** An error thrown by the native side: a failing syscall for the whole process. */
export interface RawSystemError extends Error {
  errno: number; // positive errno value
  code: string; // errno name, e.g. 'EPERM'
  syscall: string;
}

export interface Binding {
  /** Capture every requested thread of pid; runs on a dedicated native thread, blocks the caller. */
  captureSync(pid: number, options: RawCaptureOptions): RawCapture;
  /** The same, off the JS thread. */
  capture(pid: number, options: RawCaptureOptions): Promise<RawCapture>;
  /** Itanium C++ demangling via abi::__cxa_demangle; null when name is not a mangled name. */
  demangle(name: string): string | null;
  /** 'x64' or 'arm64': the architecture the addon was built for. */
  arch: string;
}

// node-gyp-build looks in prebuilds/<platform>-<arch>/ first, then build/Release/.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = require('node-gyp-build') as (dir: string) => unknown;

export const binding = load(path.join(__dirname, '..')) as Binding;
