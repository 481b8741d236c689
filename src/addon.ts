// The one place that loads the native addon and states its exact types. Everything else in
// src/ imports from here and never touches the raw binding.
import * as path from 'node:path';

import { builtAddon } from './addon-file';
import type { Arch, CaptureChoice, CaptureFallback, CapturePath, WalkEndReason } from './types';

/** Options the native capture takes; every field is required at this boundary. */
export interface RawCaptureOptions {
  /** Thread ids to capture; empty means every thread of the process. */
  tids: number[];
  consistent: boolean;
  stackBytes: number;
  stopTimeoutMs: number;
  /** Read stacks through /proc/<pid>/mem instead of process_vm_readv (tests the fallback). */
  forceProcMem?: boolean;
  /** Which capture path to use per thread (capture/paths.h); the consistent schedule ignores it. */
  capture?: CaptureChoice;
  /** A stop-free path waits this long after its copy (tests that a thread running meanwhile is caught). */
  testCopyDelayUs?: number;
  /** Threads left out while in state R (record samples them with a perf recorder). Rolling only. */
  sampledElsewhere?: number[];
  /** Leave threads not in state R out (an on-CPU-only recording). */
  onlyRunning?: boolean;
}

/** One on-CPU sample taken by the kernel for a recording (see openPerfRecorder). */
export interface RawPerfSample {
  tid: number;
  /** The kernel's perf clock (CLOCK_MONOTONIC), ns. */
  timeNs: number;
  /** The thread's run time the sample stands for, ns: one period, more after lost samples. */
  weightNs: number;
  pc: bigint;
  sp: bigint;
  fp: bigint;
  lr: bigint;
  /** Every general register in the NT_PRSTATUS layout (registers perf does not sample are 0). */
  regs: BigUint64Array;
  stack: Buffer;
  /** The copy ended at the sample's size limit: frames may lie above it. */
  stackCut: boolean;
}

export interface RawPerfBatch {
  /** Oldest first. */
  samples: RawPerfSample[];
  /** comm of each sampled thread, by tid. */
  names: Record<string, string>;
  /** Samples the kernel or the reader dropped since the last take (a full ring or queue). */
  lost: number;
  targetGone: boolean;
  /** Threads that carry an event now (a thread born since the last rescan, or refused, does not). */
  covered: number[];
}

/** A live process's memory, opened by openMemory. */
export interface RawProcessMemory {
  /**
   * Up to length bytes (at most 1 MiB) at address: cut at the first page that is not in memory
   * or cannot be read; empty when the first one is, and once closed.
   */
  read(address: bigint, length: number): Buffer;
  /** Closes its files; reads then return nothing. */
  close(): void;
}

/** A per-thread perf sampling of a whole process, drained by a native reader thread. */
export interface RawPerfRecorder {
  /** What was sampled since the last take. */
  take(): RawPerfBatch;
  /** Closes every event (also done when the process exits, however it exits). */
  close(): void;
}

/** Frame methods as the native unwinder numbers them (unwind/walk_result.h). */
export const RAW_METHOD = ['regs', 'fp', 'cfi', 'signal', 'lr', 'sp', 'scan'] as const;

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
  /** For status 'failed' with EPERM: the pid of another tracer that held the thread (0: none).
   *  Absent in capture files written before it existed. */
  tracerPid?: number;
  /** Signal that arrived while the thread was stopped and was handed back on detach (0 if none). */
  reinjectedSignal: number;
  /** What the target paid: the stop's length (0 when sampled without a stop). */
  pauseNs: number;
  capture: CapturePath;
  /** Why the stop-free paths tried did not serve the thread ('' when none was tried or one served). */
  captureFallback: CaptureFallback | '';
  /** The registers the unwinder starts from (lr is 0 on x86-64); only pc and sp on path 'blocked'. */
  pc: bigint;
  sp: bigint;
  fp: bigint;
  lr: bigint;
  /** Every general register, in the kernel's NT_PRSTATUS layout for the addon's arch. */
  regs: BigUint64Array;
  /** aarch64: the pointer-authentication bits of code addresses (NT_ARM_PAC_MASK); absent where
   *  the kernel reports none, or the thread was not stopped. */
  pacMask?: bigint;
  /** A recording's perf-event sample: the thread's run time it stands for, ns (else absent). */
  weightNs?: number;
  /** The stack bytes copied from sp upward. */
  stackBytes: number;
  /** The copy ended at its limit (stackBytes); false: at a page that could not be read, or at
   *  the end of the stack's mapping. Absent in capture files written before it existed. */
  stackLimited?: boolean;
  /** Pages of the copy that were not read (not in memory) and hold zeros: offset, length pairs
   *  from sp. Absent in capture files written before it existed. */
  stackHoles?: Uint32Array;
  stack: Buffer;
}

export interface RawCapture {
  pid: number;
  /** The text of /proc/<pid>/maps the walk validated against (re-read after the stops if it changed). */
  maps: string;
  threads: RawThreadCapture[];
  /** Time from the first stop to the last resume, and the whole native call. */
  captureNs: number;
  totalNs: number;
  bytesCopied: number;
  /** The process called execve during the capture, each time it was taken again. */
  execDuringCapture: boolean;
  /** errno name of a refused perf_event_open ('' when perf events worked or were not tried). */
  perfRefused: string;
  /** Start time (clock ticks after boot) of the thread whose tid is the pid, when it was listed. */
  leaderStartTime?: string;
  /** Threads listed that were neither gone nor zombies (also those a record left out). */
  liveThreads?: number;
}

/** An error thrown by the native side: a failing syscall for the whole process. */
export interface RawSystemError extends Error {
  errno: number; // positive errno value
  code: string; // errno name, e.g. 'EPERM'
  syscall: string;
}

/** Where a section's bytes are in a file. */
export interface FileRange {
  offset: number;
  size: number;
}

/** A module's unwind sections, at their link-time addresses. */
export interface CfiSections {
  arch: Arch;
  ehFrame?: Buffer;
  ehFrameVaddr?: bigint;
  ehFrameHdr?: Buffer;
  ehFrameHdrVaddr?: bigint;
  /**
   * Instead of ehFrame and ehFrameHdr's bytes: where they are in the module's open file. The
   * addon reads them from a descriptor of its own (the caller may close fd), .eh_frame_hdr at
   * once and .eh_frame as lookups reach it.
   */
  file?: { fd: number; ehFrame: FileRange; ehFrameHdr?: FileRange };
  debugFrame?: Buffer;
}

/** One thread to unwind: its registers and copied stack. */
export interface RawUnwindThread {
  pc: bigint;
  sp: bigint;
  fp: bigint;
  lr: bigint;
  stack: Buffer;
  /**
   * How it was captured (default 'ptrace': every register). 'blocked': only pc and sp are known,
   * and a step needing fp or lr ends the walk with 'register-unknown'. 'perf': a sample of a
   * running thread, whose stack is never read on from the live target.
   */
  capture?: RawThreadCapture['capture'];
}

export interface RawUnwindInput {
  arch: Arch;
  /** The live target, for reading code (at the innermost pc, at return sites); 0 offline. */
  pid: number;
  maxFrames: number;
  /**
   * Every mapping: [start, end, bias, (cfiId << 2) | (pending << 1) | executable], with vaddr =
   * address − bias. A pending mapping's bias and table are not known yet: see loadMapping.
   */
  mappings: BigUint64Array;
  /**
   * Called (synchronously, once) when a walk first needs the table of pending mapping `row`:
   * fills that row of `mappings`, pending no more. Without it, pending mappings have no table.
   */
  loadMapping?: (row: number) => void;
  /** Walk as a frame-pointer-only profiler would: no return-site analysis of caller frames. */
  framePointersOnly?: boolean;
  /** Search the stack where a frame has neither CFI nor a frame record (default true). */
  stackScan?: boolean;
  /** aarch64: the process's pointer-authentication mask (any stopped thread's pacMask); absent: bits 48 and up. */
  pacMask?: bigint;
  threads: RawUnwindThread[];
}

export interface RawUnwound {
  /** Frame addresses, innermost first, and how each was found (index into RAW_METHOD). */
  pcs: BigUint64Array;
  methods: Uint8Array;
  /** The frame pointer each frame ran with (V8 keeps a JS frame's function at a fixed offset from it). */
  fps: BigUint64Array;
  /** 1 where the pc is a return address (see Frame.returnAddress), 0 where it is exact. */
  returnAddresses: Uint8Array;
  /** Why the walk stopped. */
  end: WalkEndReason;
}

/** Perf map lines as parsePerfMapLines returns them: names are [nameAt, nameAt + nameLen) of names. */
export interface RawPerfMapLines {
  start: Float64Array;
  end: Float64Array;
  nameAt: Uint32Array;
  nameLen: Uint16Array;
  names: Buffer;
  consumed: number;
}

/** [start, end) is owned by entry owner. */
export interface RawPerfMapSegments {
  start: Float64Array;
  end: Float64Array;
  owner: Uint32Array;
}

/** One ELF symbol table section (Elf64_Sym entries) with its string table. */
export interface RawSymbolSection {
  syms: Uint8Array;
  strs: Uint8Array;
  /** exec[shndx] is 1 when section shndx holds code (untyped symbols count only there). */
  exec: Uint8Array;
}

/** Entries of one ELF symbol table, in table order: values and sizes as the file has them. */
export interface RawPrefixedSymbols {
  /** Where each name starts in the table's string table. */
  nameOff: Uint32Array;
  value: BigUint64Array;
  size: BigUint64Array;
}

/** A module's merged function symbols, one entry per distinct start address, sorted. */
export interface RawSymbolIndex {
  /** Start address as two 32-bit halves. */
  hi: Uint32Array;
  lo: Uint32Array;
  /** 0 for unsized symbols. */
  size: Float64Array;
  /** The name: offset in the string table of input section `table`. */
  nameOff: Uint32Array;
  table: Uint16Array;
  /** Nearest earlier sized entry whose range encloses this one's start, or -1. */
  parent: Int32Array;
}

export interface Binding {
  /** Capture every requested thread of pid; runs on a dedicated native thread, blocks the caller. */
  captureSync(pid: number, options: RawCaptureOptions): RawCapture;
  /** The same, off the JS thread. */
  capture(pid: number, options: RawCaptureOptions): Promise<RawCapture>;
  /** Registers a module's unwind tables; returns its id (0 when there is nothing to register). */
  loadCfi(sections: CfiSections): number;
  /** Frees a table registered by loadCfi; its id then names no table (ids are never reused). */
  unloadCfi(id: number): void;
  /** Walks copied stacks (CFI where a module has it, frame pointers elsewhere). */
  unwind(input: RawUnwindInput): RawUnwound[];
  /** Every end reason unwind() may report, in the unwinder's order: WALK_END_REASONS. */
  readonly endReasons: readonly string[];
  /** RawThreadCapture's status and capture values, in the order the native capture numbers them. */
  readonly captureStatuses: readonly RawThreadCapture['status'][];
  readonly capturePaths: readonly CapturePath[];
  /** Merges symbol tables (earlier sections win ties) the way perf picks among aliases. */
  buildSymbolIndex(sections: RawSymbolSection[]): RawSymbolIndex;
  /**
   * Whether a stored index is safe to use: every name inside its string table (lengths in
   * `table` order), every parent before its entry. False for columns of the wrong types or lengths.
   */
  checkSymbolIndex(index: RawSymbolIndex, strtabLengths: number[]): boolean;
  /**
   * `length` bytes of file fd at `offset` (fewer at its end or on an error), in memory the kernel
   * may back with huge pages: for large reads (native/binding/file_read_binding.cc).
   */
  readFileRange(fd: number, offset: number, length: number): Buffer;
  /**
   * The first `length` bytes of file fd mapped into memory (private: writes stay ours); null when
   * it cannot be mapped. Only for the module cache's own entries (native/binding/file_map_binding.cc).
   */
  mapFile(fd: number, length: number): Buffer | null;
  /** zlib's CRC-32 of the bytes (native/binding/crc32_binding.cc). */
  crc32(data: Uint8Array): number;
  /** Whether fd is a terminal (isatty(3)), without node:tty. */
  isatty(fd: number): boolean;
  /** The entries of one ELF symbol table whose names start with one of `prefixes` (node's v8dbg_*). */
  symbolsWithPrefix(syms: Uint8Array, strs: Uint8Array, prefixes: readonly string[]): RawPrefixedSymbols;
  /**
   * Itanium C++, Rust legacy and Rust v0 names; null when name is not a mangled name. Rust names
   * print as perf, gdb and `nm -C` show them; with verbose, as c++filt does (legacy hash, v0
   * crate disambiguators and constant types).
   */
  demangle(name: string, verbose?: boolean): string | null;
  /**
   * Parses every newline-ended line of a perf map chunk (symbols/perf_map.h): starts, ends and
   * names of the well-formed ones, and the bytes consumed (through the last newline). With
   * skipFirst, the bytes up to the first newline are the rest of an over-long line.
   */
  parsePerfMapLines(bytes: Uint8Array, skipFirst: boolean, maxLine: number, maxName: number): RawPerfMapLines;
  /** Disjoint sorted segments over entries [from, to), each owned by the newest entry covering it. */
  perfMapSegments(start: Float64Array, end: Float64Array, from: number, to: number): RawPerfMapSegments;
  /**
   * Decompresses a whole .xz stream (concatenated streams and padding allowed) with the
   * system's liblzma.so.5, loaded on first use. Throws an Error whose `code` is liblzma's
   * lzma_ret name (LZMA_FORMAT_ERROR, LZMA_DATA_ERROR, LZMA_MEMLIMIT_ERROR, ...),
   * LIBLZMA_MISSING, or XZ_TOO_LARGE when the output exceeds maxOutput (default 256 MiB).
   */
  xzDecompress(compressed: Buffer, maxOutput?: number): Buffer;
  /**
   * Opens pid's memory for reads after its threads run again (runtime metadata): through
   * /proc/<pid>/mem, bound to the process it was opened on, and only where pagemap shows a page
   * in memory (native/binding/memory_binding.cc).
   */
  openMemory(pid: number): RawProcessMemory;
  /**
   * Starts sampling every thread of pid (and threads born later) every periodNs of its own run
   * time, copying up to stackBytes (< 64 KiB) of stack per sample. Throws a RawSystemError
   * (syscall 'perf_event_open') when no thread can be sampled.
   */
  openPerfRecorder(pid: number, options: { periodNs: number; stackBytes: number }): RawPerfRecorder;
  /**
   * Opens (disabled: it never runs) and closes the sampling event stackshot uses on thread tid
   * (0: this thread). '' when allowed, else the errno name of the refusal.
   */
  probePerf(tid: number): string;
  /** The architecture the addon was built for. */
  arch: Arch;
}

/** The addon as node-gyp-build finds it: build/Release/ first, then prebuilds/ (src/addon-file.ts). */
function load(): unknown {
  const built = builtAddon();
  if (built !== undefined) return built;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node-gyp-build') as (dir: string) => unknown)(path.join(__dirname, '..'));
}

let loadError: Error | null = null;

/** unwind()'s native result: every walk in one set of columns (native/binding/unwind_binding.cc). */
interface RawWalkColumns {
  pcs: BigUint64Array;
  fps: BigUint64Array;
  methods: Uint8Array;
  returnAddresses: Uint8Array;
  /** Frames of each walk, in thread order: walk i's are after those of walks 0..i-1. */
  counts: Uint32Array;
  /** Each walk's end, an index into endReasons. */
  ends: Uint8Array;
}

/** capture()'s native threads: one column each, in thread order (native/binding/capture_binding.cc). */
interface RawThreadColumns {
  tid: Int32Array;
  name: string[];
  /** One state letter per thread. */
  state: string;
  /** Indexes into captureStatuses and capturePaths. */
  status: Uint8Array;
  capture: Uint8Array;
  errno: Int32Array;
  syscall: string[];
  tracerPid: Int32Array;
  reinjectedSignal: Int32Array;
  pauseNs: Float64Array;
  captureFallback: string[];
  /** REGISTER_COLUMNS per thread: pc, sp, fp, lr and the PAC mask (0: none). */
  regs: BigUint64Array;
  /** Each thread's NT_PRSTATUS words, back to back: rawRegCounts[i] of them for thread i. */
  rawRegCounts: Uint32Array;
  rawRegs: BigUint64Array;
  /** Each thread's stack copy, back to back in stacks: stackBytes[i] bytes for thread i. */
  stackBytes: Float64Array;
  stacks: Buffer;
  stackLimited: Uint8Array;
  /** Each thread's holes, (offset, length) pairs back to back: holeCounts[i] pairs for thread i. */
  holeCounts: Uint32Array;
  holes: Uint32Array;
}

type RawCaptureColumns = Omit<RawCapture, 'threads'> & { threads: RawThreadColumns };

const REGISTER_COLUMNS = 5;

/** The addon's exports as they are: unwind() and the captures differ from Binding. */
type NativeBinding = Omit<Binding, 'unwind' | 'captureSync' | 'capture'> & {
  unwind(input: RawUnwindInput): RawWalkColumns;
  captureSync(pid: number, options: RawCaptureOptions): RawCaptureColumns;
  capture(pid: number, options: RawCaptureOptions): Promise<RawCaptureColumns>;
};

/** Each thread of a capture as its own object, its arrays views of the columns (no copy). */
function threadsOf(c: RawThreadColumns, native: NativeBinding): RawThreadCapture[] {
  const threads: RawThreadCapture[] = [];
  for (let i = 0, raw = 0, hole = 0, stack = 0; i < c.tid.length; i++) {
    const r = i * REGISTER_COLUMNS;
    const t: RawThreadCapture = {
      tid: c.tid[i],
      name: c.name[i],
      state: c.state[i],
      status: native.captureStatuses[c.status[i]],
      errno: c.errno[i],
      syscall: c.syscall[i],
      tracerPid: c.tracerPid[i],
      reinjectedSignal: c.reinjectedSignal[i],
      pauseNs: c.pauseNs[i],
      capture: native.capturePaths[c.capture[i]],
      captureFallback: c.captureFallback[i] as CaptureFallback | '',
      pc: c.regs[r],
      sp: c.regs[r + 1],
      fp: c.regs[r + 2],
      lr: c.regs[r + 3],
      regs: c.rawRegs.subarray(raw, (raw += c.rawRegCounts[i])),
      stackBytes: c.stackBytes[i],
      stackLimited: c.stackLimited[i] === 1,
      stackHoles: c.holes.subarray(hole, (hole += 2 * c.holeCounts[i])),
      stack: c.stacks.subarray(stack, (stack += c.stackBytes[i])),
    };
    if (c.regs[r + 4] !== 0n) t.pacMask = c.regs[r + 4];
    threads.push(t);
  }
  return threads;
}

function captureOf(c: RawCaptureColumns, native: NativeBinding): RawCapture {
  return { ...c, threads: threadsOf(c.threads, native) };
}

/** Each walk as views of the columns (no copy). */
function splitWalks(c: RawWalkColumns, endReasons: readonly string[]): RawUnwound[] {
  const walks: RawUnwound[] = [];
  for (let i = 0, at = 0; i < c.counts.length; at += c.counts[i++]) {
    const to = at + c.counts[i];
    walks.push({
      pcs: c.pcs.subarray(at, to),
      methods: c.methods.subarray(at, to),
      fps: c.fps.subarray(at, to),
      returnAddresses: c.returnAddresses.subarray(at, to),
      end: endReasons[c.ends[i]] as WalkEndReason,
    });
  }
  return walks;
}

/** Loads the addon; where it cannot load, a stand-in whose every member throws why. */
function loadBinding(): Binding {
  try {
    const native = load() as NativeBinding;
    return {
      ...native,
      unwind: (input) => splitWalks(native.unwind(input), native.endReasons),
      captureSync: (pid, options) => captureOf(native.captureSync(pid, options), native),
      capture: (pid, options) => native.capture(pid, options).then((c) => captureOf(c, native)),
    };
  } catch (e) {
    loadError = e instanceof Error ? e : new Error(String(e));
    const failed = loadError;
    return new Proxy({} as Binding, {
      get: () => {
        throw failed;
      },
    });
  }
}

/** The native addon. Loaded once, here only; using it throws if it did not load. */
export const binding: Binding = loadBinding();

/** Why the addon did not load (doctor reports it), or null when it did. */
export function addonLoadError(): Error | null {
  return loadError;
}
