// The public shape of a snapshot: the JSON contract that `stackshot <pid> --json` prints and
// `snapshot()` resolves to. Keys may be added; none of these may be renamed.

/** What a frame runs: machine code (absent means native too), JavaScript, or Python. */
export type FrameKind = 'native' | 'js' | 'python';
/** How V8 ran a JavaScript frame. */
export type JsTier = 'interpreted' | 'baseline' | 'optimized' | 'builtin';

/**
 * Why a frame has no name (or keeps its native one): one per naming source's failure. Each is
 * explained in src/symbolize/reasons.ts (SYMBOL_REASONS), the one list the README's table follows.
 */
export type SymbolReason =
  | 'no-mapping'
  | 'module-unreadable'
  | 'module-changed'
  | 'module-invalid'
  | 'vdso-unreadable'
  | 'outside-loadable-segments'
  | 'no-function-symbols'
  | 'no-symbol-covers'
  | 'no-perf-map'
  | 'perf-map-refused'
  | 'not-in-perf-map'
  | 'v8-unsupported'
  | 'v8-frame-unreadable'
  | 'python-version-unsupported'
  | 'python-build-unsupported'
  | 'python-version-unknown'
  | 'python-runtime-not-found'
  | 'python-runtime-unreadable'
  | 'python-thread-state-not-found'
  | 'python-frame-unreadable'
  | 'python-code-invalid'
  | 'python-chain-invalid'
  | 'python-stack-changed';

/** How a frame's pc was found. */
export type FrameMethod = 'regs' | 'fp' | 'cfi' | 'signal' | 'lr' | 'sp' | 'scan';

/**
 * Why the native walk stopped, in the unwinder's order (native/unwind/walk_result.h EndReason;
 * test/end-reasons.test.ts checks the addon spells exactly these).
 */
export const WALK_END_REASONS = [
  'end-of-chain', // the frame-pointer chain ended (fp or return address of 0) before an entry
  'fp-not-increasing',
  'fp-misaligned',
  'fp-outside-stack', // a frame record at fp would lie outside the thread's stack
  'cfa-outside-stack', // the CFI's frame address lies outside the thread's stack
  'ra-not-executable',
  'max-frames',
  'copy-exhausted', // the chain points past the bytes we copied (raise stackBytes)
  'cfa-not-increasing', // a CFI or signal-frame step would move down the stack: not a real frame
  'stack-unreadable', // the chain leads to stack memory that could not be read (not resident, PROT_NONE, ...)
  'register-unknown', // a stop-free capture lacks the register the next step needs (fp, lr)
  'interrupted-stack-unreadable', // past a handler on sigaltstack: the interrupted stack could not be read
] as const;
export type WalkEndReason = (typeof WALK_END_REASONS)[number];

/** Why a thread's walk stopped. `thread-entry` is the only reason that makes a stack complete. */
export type EndReason =
  | 'thread-entry' // the last frame is the thread's real entry (_start, clone3, start_thread, ...)
  | WalkEndReason
  | 'not-captured'; // the thread exited or could not be stopped; no frames

export type Schedule = 'rolling' | 'consistent';

/** The machines stackshot unwinds, named as Node's `process.arch` names them. */
export const ARCHES = ['x64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

/** Whether a value from outside (a saved capture, `process.arch`) names a machine stackshot unwinds. */
export function isArch(value: unknown): value is Arch {
  return (ARCHES as readonly unknown[]).includes(value);
}

/**
 * How a thread was captured: 'ptrace' (stopped, copied, resumed), 'blocked' (asleep in a
 * system call: read without a stop), 'perf' (a perf-event sample the kernel took while it ran).
 */
export type CapturePath = 'perf' | 'blocked' | 'ptrace';

/** Which capture path a snapshot uses: 'auto' (the cheapest that serves each thread) or one forced. */
export type CaptureChoice = 'auto' | CapturePath;

/** Why a thread was stopped with ptrace after a stop-free path was tried for it. */
export type CaptureFallback =
  | 'running' // on a CPU (or runnable): not blocked
  | 'traced' // another tracer (a debugger, strace) holds the thread
  | 'not-in-syscall' // in the kernel, but not in a system call (e.g. a page fault)
  | 'ran-during-copy' // it ran between the first and the last read: the copy proves nothing
  | 'register-unknown' // the walk needed a register (fp, lr) a stop-free capture does not give
  | 'unreadable' // /proc/<pid>/task/<tid>/syscall or schedstat could not be read
  | 'no-schedstat' // the kernel keeps no scheduler statistics: consistency cannot be proven
  | 'perf-unavailable' // perf events refused here (see doctor), or the sample was unusable
  | 'no-sample' // running, but it blocked, exited or did not run before its perf sample came
  | 'sample-too-short'; // the walk needed more stack than one perf sample holds (< 64 KiB: no more is read from a running thread)

/** Why a thread has no stack (absent when it was captured). */
export type ThreadFailure = 'exited' | 'timeout' | 'failed';

export interface Frame {
  /** Program counter as "0x…" (the return address for frames above the first). */
  pc: string;
  method: FrameMethod;
  /**
   * True when pc is a return address: the call is just before it, so naming, lines and profiles
   * look the frame up at pc - 1 (a call may end a function). False for the exact pcs: the
   * innermost frame, a frame a signal interrupted, and the signal trampoline. The unwinder decides.
   */
  returnAddress: boolean;
  /** Path of the mapped file (or "[vdso]", "[anon]", ...); null if the pc is in no mapping. */
  module: string | null;
  /** Offset of the pc in the module's file, "0x…"; null when module is null. */
  moduleOffset: string | null;
  /** Demangled symbol name, or null when unknown (never "??"). */
  symbol: string | null;
  /** pc minus the symbol's start, in bytes; null when symbol is null, and on inlined frames. */
  symbolOffset: number | null;
  /** Why symbol is null (absent when the frame is named, and when naming was not asked for);
   *  also on a frame that keeps its native name because its runtime's function could not be
   *  read (V8, or the Python frames of a `_PyEval_EvalFrameDefault` frame). See SymbolReason. */
  symbolReason?: SymbolReason;
  /** What exactly went wrong, in words, where a reason has more to say (the file's error, the
   *  perf map refused and why, the V8 object that did not check out). */
  symbolDetail?: string;
  /** Source file and line (with the `lines` option, where the module has .debug_line; for a
   *  JavaScript frame, its script and line, read from V8's memory). */
  file?: string;
  line?: number;
  /**
   * What the frame runs: machine code (absent means native too), or a runtime's function read
   * from the runtime's own memory (symbol is then that function's name, '' if anonymous).
   * 'python': it comes right before the native `_PyEval_EvalFrameDefault` frame that runs it
   * (sharing its pc, method and module); its symbol is the function's qualified name.
   */
  kind?: FrameKind;
  /** 1-based column, where the runtime knows it (JavaScript). */
  column?: number;
  /** For a JavaScript frame: how V8 ran it (interpreted by Ignition, Sparkplug baseline code,
   *  Maglev/TurboFan optimized code, or one of V8's builtins written in JavaScript's stead). */
  jsTier?: JsTier;
  /**
   * True on a call inlined into the physical frame that follows it (with `lines`, from
   * .debug_info; absent on every other frame). A physical frame whose pc lies in inlined code
   * is preceded by one such frame per inlined call, innermost first, as `addr2line -f -i`
   * lists them. They share the physical frame's pc, method, module and moduleOffset (eu-stack
   * and perf show them at the same pc too); their symbol is the inlined function's DWARF name
   * (demangled), symbolOffset is null (inlined code has no single start), and file:line is
   * where execution is in that function. The physical frame keeps its ELF symbol and offset;
   * its file:line is the call site of the outermost inlined call.
   */
  inlined?: true;
}

export interface ThreadStack {
  tid: number;
  /** Thread name from /proc/<pid>/task/<tid>/comm. */
  name: string;
  /** Scheduler state letter before the stop (R, S, D, T, t, Z, ...). */
  state: string;
  frames: Frame[];
  end: EndReason;
  /** True only when the walk reached the thread's real entry. */
  complete: boolean;
  /**
   * True when completeness was not judged: without naming (`symbolize: false`) a thread's entry
   * cannot be recognized, so `complete` is false whether or not the walk reached it.
   */
  notJudged?: true;
  /** How long this thread was stopped, in nanoseconds: what the target paid (0 when not stopped). */
  pauseNs: number;
  /** How the thread was captured. */
  capture: CapturePath;
  /**
   * A recording's perf-event sample (capture 'perf'): the thread's run time it stands for, in
   * ns, as the kernel counted it (one period; more when samples were lost). Absent otherwise.
   */
  weightNs?: number;
  /** Why a stop-free path tried for this thread did not serve it (absent when none was tried, or one served). */
  captureFallback?: CaptureFallback;
  /** Stack bytes copied for this thread. */
  stackBytes: number;
  /** Present when the thread has no stack: exited during capture, would not stop in time, or a ptrace call failed. */
  failure?: ThreadFailure;
  /** errno name of the failing call when failure is 'failed'. */
  failureCode?: string;
  /** With failureCode 'EPERM': the other tracer (a debugger, another stackshot) that held the
   *  thread for longer than the capture would wait (stopTimeoutMs). */
  tracer?: { pid: number; command: string | null };
}

export interface SnapshotCost {
  /** Wall time of the whole snapshot() call. */
  totalNs: number;
  /** Longest pause of any one thread. */
  pauseNsMax: number;
  /** Time spent unwinding the copied stacks (native, after the threads ran again; includes
   *  loading the unwind tables of modules seen for the first time). */
  walkNs: number;
  /** Time spent naming frames. */
  symbolizeNs: number;
  /** Time spent opening and parsing module files seen for the first time (unwind tables,
   *  symbols): part of walkNs, and of symbolizeNs for files only naming needs. 0 when warm. */
  modulesNs: number;
  /** Stack bytes copied out of the target, all threads. */
  bytesCopied: number;
}

/** The version of the Snapshot JSON shape: raised when a key is renamed, removed or changes meaning. */
export const SNAPSHOT_VERSION = 1;

export interface Snapshot {
  /** SNAPSHOT_VERSION of the stackshot that made it (keys may be added within a version). */
  version: typeof SNAPSHOT_VERSION;
  pid: number;
  /** Process name (/proc/<pid>/comm). */
  command: string;
  schedule: Schedule;
  /** ISO 8601 time of the capture. */
  takenAt: string;
  threads: ThreadStack[];
  cost: SnapshotCost;
  /** Present when the process called execve during the capture, again on each retry: threads
   *  may come from two program images, and frames of the old one may be misnamed. */
  execDuringCapture?: true;
}

export interface SnapshotOptions {
  /** Only these thread ids (default: all threads of the process). */
  threads?: number[];
  /** 'rolling' (default): one thread stopped at a time. 'consistent': all threads stopped together. */
  schedule?: Schedule;
  /** Most frames per thread (default 1024). */
  maxFrames?: number;
  /** Most stack bytes copied per thread while it is stopped, from sp upward (default 512 KiB); a
   *  deeper walk reads on from the target after the resume, validated, up to 8 MiB. */
  stackBytes?: number;
  /** Name the frames (default true). With false, frames carry pc and method only. */
  symbolize?: boolean;
  /** How long to wait for one thread to stop, in milliseconds (default 1000). */
  stopTimeoutMs?: number;
  /**
   * 'hybrid' (default): CFI (.eh_frame) where a module has it, frame pointers elsewhere.
   * 'fp': frame pointers only, as `perf --call-graph fp` would walk (to compare, or to see
   * where frame-pointer chains break).
   */
  unwind?: 'hybrid' | 'fp';
  /**
   * Where a frame has neither CFI nor a frame record, search the stack above it for a return
   * address that follows a call (default true; 'hybrid' only, x86-64). Such frames say
   * `method: 'scan'`; false ends the walk there instead.
   */
  stackScan?: boolean;
  /**
   * Source file and line per frame from .debug_line, and inlined calls as extra frames
   * (`inlined: true`) from .debug_info, where the module has debug info (default false).
   */
  lines?: boolean;
  /**
   * Name the frames of runtimes from their own memory, read after the threads resumed (default
   * true): JavaScript functions of a node whose V8 carries post-mortem metadata, and Python
   * functions of CPython 3.11 to 3.13.
   */
  runtimeFrames?: boolean;
  /**
   * How threads are captured (default 'auto': a thread blocked in a system call is read without
   * a stop, a running thread is sampled by a perf event where perf events are allowed, others
   * are stopped with ptrace). A forced path that cannot serve a thread falls back to ptrace and
   * says why in `captureFallback`. The 'consistent' schedule always stops every thread (one
   * cut): it takes 'auto' or 'ptrace' only.
   */
  capture?: CaptureChoice;
}
