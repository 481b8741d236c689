// The public shape of `benchmark(pid)` and `stackshot bench <pid> --json` (README: "stackshot
// bench"). Keys may be added; none of these may be renamed within BENCHMARK_VERSION.
import type { CaptureFallback, CapturePath, EndReason } from '../types';

/** The version of the BenchmarkReport JSON shape. */
export const BENCHMARK_VERSION = 1;

/** How a copied stack is walked: frame pointers only, or CFI where a module has it (hybrid). */
export type BenchMethod = 'fp' | 'hybrid';

/**
 * How the threads are captured: one ptrace stop at a time, all stopped together (one cut), or
 * the default chooser that reads blocked threads and samples running ones without a stop.
 */
export type BenchPath = 'ptrace-rolling' | 'ptrace-consistent' | 'stop-free';

/** A tool the same process is put through with `compare`. */
export type ReferenceTool = 'eu-stack' | 'gdb' | 'perf-fp' | 'perf-dwarf';

/** Where a frame's name came from. */
export type NameSource =
  | 'elf' // the module's .symtab, .dynsym, MiniDebugInfo or debug file
  | 'plt' // a PLT stub, named after its target
  | 'vdso' // the kernel's vDSO, read from the target's memory
  | 'perf-map' // JIT code named by /tmp/perf-<pid>.map
  | 'v8' // a JavaScript function read from V8's memory
  | 'cpython' // a Python function read from CPython's memory
  | 'unnamed'; // no name (see unnamedReasons)

/** Median, 90th percentile and maximum of n values (NaN-free; null when n is 0). */
export interface Distribution {
  n: number;
  median: number | null;
  p90: number | null;
  max: number | null;
}

/** What the run will do, stated before the first stop. */
export interface BenchPlan {
  pid: number;
  /** Process name (/proc/<pid>/comm). */
  command: string;
  /** Threads of the process when the run started. */
  threads: number;
  /** Rounds at most (count); each round captures once per path. */
  rounds: number;
  /** No round starts after this many milliseconds. */
  durationMs: number;
  paths: BenchPath[];
  /** Thread stops at most: rounds × threads per ptrace path, and as many for stop-free (a thread it cannot serve is stopped). */
  maxStops: number;
  /** References that will run (one run each), and the stops they cause at most: eu-stack and gdb stop every thread, and so does the snapshot taken right before them as their baseline. */
  references: ReferenceTool[];
  referenceStops: number;
}

/** One thread kind (its name without digits, e.g. "libuv-worker") under one method. */
export interface MethodKind {
  kind: string;
  /** Thread stacks walked (threads × rounds). */
  stacks: number;
  complete: number;
  frames: Distribution;
  /** Why the incomplete stacks ended. */
  ends: Partial<Record<EndReason, number>>;
  /** This kind's threads walked in a call of their own, per capture: the call's time over its frames, ns. */
  walkNsPerFrame: Distribution;
  /** The same call's time over its stacks, ns. */
  walkNsPerStack: Distribution;
}

export interface MethodResult {
  method: BenchMethod;
  stacks: number;
  complete: number;
  /** Frames per stack. */
  frames: Distribution;
  /** Walk time per frame, per capture (all threads in one call; warm: unwind tables already loaded), ns. */
  walkNsPerFrame: Distribution;
  /** Walk time per stack, per capture (all threads' walk over the threads walked), ns. */
  walkNsPerStack: Distribution;
  ends: Partial<Record<EndReason, number>>;
  kinds: MethodKind[];
}

/** Where frame pointers alone lost stacks that hybrid unwinding completed (as `stackshot --explain`). */
export interface FpLoss {
  /** Stacks fp-only left incomplete. */
  lost: number;
  /** Of those, stacks hybrid unwinding completed. */
  recovered: number;
  /** Module of the last frame both walks agree on (the function that did not keep the frame pointer). */
  breakers: { module: string; stacks: number }[];
}

/** The kernel's own accounting of the threads over each capture's window. */
export interface KernelAccounting {
  /** Time waiting for a CPU (schedstat run delay), per thread and capture, ns. */
  runDelayNs: Distribution;
  /** Context switches (status: voluntary + nonvoluntary), per thread and capture. */
  contextSwitches: Distribution;
  /** Threads whose counters could not be read (exited meanwhile). */
  unread: number;
}

export interface PathResult {
  path: BenchPath;
  captures: number;
  /** Pause stackshot measured, per stopped thread, ns (threads not stopped are in notStopped). */
  pauseNs: Distribution;
  /** Thread captures served without a stop. */
  notStopped: number;
  /** How the thread captures were served, and why a stop-free path fell back to a stop. */
  served: Partial<Record<CapturePath, number>>;
  fallbacks: Partial<Record<CaptureFallback, number>>;
  kernel: KernelAccounting;
  /** Stack bytes copied per capture. */
  bytesCopied: Distribution;
  /** Wall time of the capture and walk (snapshot cost.totalNs before naming), ns. */
  captureNs: Distribution;
  /** Every pause in ns, for the chart (stopped threads only). */
  pauses: number[];
}

export interface NamingResult {
  /** Frames of the snapshot named cold and warm (runtime frames included). */
  frames: number;
  /**
   * Cold, persistent module cache off: one capture walked and named by a symbolizer with a
   * registry of its own (every module file opened and parsed), `modulesNs + symbolizeNs` per
   * frame, ns; the median over the first 3 rounds' captures. npm run bench measures the same
   * (bench/cold.js --naming, with the same function).
   */
  coldNsPerFrame: number | null;
  /** The same with the persistent module cache on and filled; null when it is off or unusable. */
  coldDiskCacheNsPerFrame: number | null;
  /** The same capture again by the same symbolizer (modules and names cached), ns per frame. */
  warmNsPerFrame: number | null;
  /**
   * The first snapshot of the run: `modulesNs + symbolizeNs` (files parsed for its walk and its
   * names, plus its naming, runtime frames included), ns. Cold when this program had named no
   * frames of the process before (always so from the CLI): npm run bench's first snapshot of a
   * fresh process, counted the same way.
   */
  firstSnapshotNs: number | null;
  /** Whether the persistent module cache was on for that first snapshot (filled or not). */
  firstSnapshotDiskCache: boolean;
  /** A whole snapshot's naming (runtime frames included), warm (rounds after the first), per frame, ns. */
  snapshotNsPerFrame: Distribution;
  sources: Partial<Record<NameSource, number>>;
  unnamedReasons: { reason: string; frames: number }[];
}

export interface ReferenceResult {
  tool: ReferenceTool;
  status: 'ran' | 'missing' | 'failed';
  /** The command line run (absent when missing). */
  command?: string;
  /** Why it failed (absent unless failed). */
  error?: string;
  wallNs?: number;
  /** Its wall time over stackshot's: the median warm snapshot (ptrace rolling: capture, walk, naming), one taken right before the references included. */
  wallRatio?: number;
  /** Stacks it printed (threads, or perf samples) and their frames. */
  stacks?: number;
  frames?: Distribution;
  /** Its median frames per stack over stackshot's hybrid one. */
  framesRatio?: number;
}

export interface BenchmarkReport {
  version: typeof BENCHMARK_VERSION;
  pid: number;
  command: string;
  startedAt: string;
  plan: BenchPlan;
  /** Rounds completed. */
  rounds: number;
  elapsedMs: number;
  /** Thread stops the run caused (ptrace stops; references not included). */
  stops: number;
  /** Present when the run ended early: the figures cover the rounds done. */
  partial?: { reason: 'target-exited' | 'capture-failed'; message: string };
  methods: MethodResult[];
  fpLoss: FpLoss;
  paths: PathResult[];
  naming: NamingResult;
  /** With compare: every reference, run or not. */
  references?: ReferenceResult[];
  verdict: string;
}

export interface BenchmarkOptions {
  /** Rounds at most (default 10). */
  count?: number;
  /** No round starts after this long, ms (default 10000). */
  durationMs?: number;
  /** Also run eu-stack, gdb and perf record (fp, dwarf) where installed. */
  compare?: boolean;
  /** Called once with the plan, before the first stop. */
  onPlan?: (plan: BenchPlan) => void;
  /** Called after each round with the number of rounds done (progress). */
  onRound?: (roundsDone: number) => void;
}
