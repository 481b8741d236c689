// The shapes `audit()` and `explain()` return, and that `stackshot audit --json` /
// `stackshot <pid> --explain --json` print. Keys may be added; none may be renamed.
import type { PythonFramesProbe } from '../runtimes/cpython/probe';

/**
 * What stackshot (or any profiler) can do with a module:
 * - `frame-pointer walkable`: at least FP_WALKABLE_SHARE of its functions set up a frame
 *   pointer, so a frame-pointer-only walker (perf --call-graph fp) mostly gets through it;
 * - `needs CFI`: fewer do, but the module has .eh_frame, so a CFI unwinder (stackshot's hybrid
 *   mode, gdb, eu-stack, perf --call-graph dwarf) gets through it;
 * - `not unwindable`: fewer do and there is no .eh_frame: stacks through it will be cut short.
 */
export type Verdict = 'frame-pointer walkable' | 'needs CFI' | 'not unwindable';

/** Share of functions (by count) that must set up a frame pointer for `frame-pointer walkable`. */
export const FP_WALKABLE_SHARE = 0.9;

export interface FramePointerStats {
  /** Where the function symbols came from. */
  symbolSource: '.symtab' | '.dynsym' | 'debug file .symtab';
  /** Distinct function starts measured (STT_FUNC, size > 0, in an executable PT_LOAD; `.cold` parts excluded). */
  functions: number;
  /** Functions that set up a frame pointer (entry + later). */
  withFramePointer: number;
  /** ... with the frame-pointer setup as the first instruction(s) (after endbr64 / paciasp / bti). */
  atEntry: number;
  /** ... with the setup after a short preamble within the first PROLOGUE_WINDOW bytes (shrink-wrapped early exit, stack realignment, large-frame form on aarch64). */
  later: number;
  /** Sum of the functions' sizes. */
  bytes: number;
  /** Sum of the sizes of the functions that set up a frame pointer. */
  bytesWithFramePointer: number;
  /** withFramePointer / functions (0 when there are none). */
  shareByCount: number;
  /** bytesWithFramePointer / bytes (0 when there are none). */
  shareByBytes: number;
  /** Function symbols skipped: no bytes in the file (not in an executable PT_LOAD) or `.cold` parts. */
  skipped: number;
}

export interface CompilerInfo {
  /** DW_AT_producer of the first compile unit that is not assembly, e.g. "GNU C11 12.2.0 -O2 ...". */
  producer: string | null;
  /** Where `producer` was read: the module itself or its debug file. */
  producerFrom: string | null;
  /** The .GCC.command.line section's entries (gcc -frecord-gcc-switches), when present. */
  commandLine: string[] | null;
  /**
   * The frame-pointer flag the recorded command line ends with: 'on' (-fno-omit-frame-pointer),
   * 'off' (-fomit-frame-pointer), or null when neither is recorded (the compiler's default,
   * which at -O1 and above is to omit it on x86-64 and aarch64).
   */
  framePointerFlag: 'on' | 'off' | null;
  /** Why flags could not be read, when they could not. */
  note?: string;
}

export interface ModuleAudit {
  /** The module's path as the process maps it, or the file as given. */
  path: string;
  /** The file actually opened (e.g. /proc/<pid>/map_files/...). */
  openedFrom: string | null;
  /** 'x86-64', 'aarch64', or 'machine <n>'. */
  arch: string;
  /** 'executable', 'shared object', 'relocatable', 'other'. */
  elfType: string;
  buildId: string | null;
  /** The module's .eh_frame describes at least one function (what stackshot's CFI unwinder uses). */
  ehFrame: boolean;
  /** FDEs in .eh_frame: function ranges it can unwind. */
  ehFrameFdes: number;
  ehFrameHdr: boolean;
  /** .debug_frame in the module or its debug file (other CFI consumers use it; stackshot does not yet). */
  debugFrame: boolean;
  /** Entries in .symtab / .dynsym (null: no such section). In the debug file: debugSymtab. */
  symtab: number | null;
  dynsym: number | null;
  /** Separate debug file found by build-id or .gnu_debuglink (null: none installed). */
  debugFile: string | null;
  debugSymtab: number | null;
  /** Null when no function symbols with sizes were found (fully stripped, no debug file). */
  framePointers: FramePointerStats | null;
  compiler: CompilerInfo;
  verdict: Verdict;
  /** One sentence: why this verdict. */
  reason: string;
  /** Set when the file could not be read or parsed; the other fields are then defaults. */
  error?: string;
}

export interface PythonRuntime {
  /** The interpreter binary that was asked (it is run once: see src/audit/runtime.ts). */
  interpreter: string | null;
  /** The module that made this a Python process: the executable or a mapped libpython. */
  detectedBy: string;
  /** sysconfig CFLAGS as the interpreter reports them (null when it could not be run). */
  cflags: string | null;
  /** -fno-omit-frame-pointer in the CFLAGS (last frame-pointer flag wins); null when unknown. */
  builtWithFramePointers: boolean | null;
  /** Python's perf trampoline (3.12+, -X perf / PYTHONPERFSUPPORT) is requested on its command line or environment. */
  perfTrampolineRequested: boolean;
  /** /tmp/perf-<pid>.map exists (Python function names for JIT-style frames). */
  perfMap: string | null;
  /** Whether snapshots name Python frames from the interpreter's memory (no flag needed), and why not. */
  frames: PythonFramesProbe | null;
  note?: string;
}

export interface NodeRuntime {
  /** --perf-basic-prof / --perf-prof flags found in the command line or NODE_OPTIONS. */
  perfFlags: string[];
  /** --interpreted-frames-native-stack is on (interpreted JS frames get their own native frame). */
  interpretedFramesNativeStack: boolean;
  /** /tmp/perf-<pid>.map exists (named JIT frames). */
  perfMap: string | null;
  /** Whether stackshot can name JS frames from V8's own memory (post-mortem metadata). */
  v8: V8Readability;
  note?: string;
}

export interface V8Readability {
  /** The file that carries V8's v8dbg_* metadata (null: none found). */
  module: string | null;
  /** JS frames are named without any flag. */
  readable: boolean;
  /** V8's version, when the metadata is readable. */
  version?: string;
  /** Why not: no metadata, pointer compression, a layout this version does not know, ... */
  reason?: string;
}

export interface AuditReport {
  /** The audited process, or null when files were given. */
  pid: number | null;
  command: string | null;
  modules: ModuleAudit[];
  runtimes: { python?: PythonRuntime; node?: NodeRuntime };
  /** Module counts per verdict. */
  summary: Record<Verdict, number>;
}

export interface AuditOptions {
  /**
   * For a Python process: run its interpreter binary once to read sysconfig CFLAGS (default
   * false: nothing is executed unless asked). The interpreter is started as a new, separate
   * process with `-I -c <code>`; as root, only a root-owned binary no one else can write.
   */
  runInterpreter?: boolean;
  /** Timeout for that interpreter run, ms (default 5000). */
  interpreterTimeoutMs?: number;
}

/** One frame as --explain reports it. */
export interface ExplainFrame {
  index: number;
  pc: string;
  symbol: string | null;
  module: string | null;
}

export interface ExplainThread {
  tid: number;
  name: string;
  /** What the frame-pointer-only walk did with this thread. */
  fp: { frames: number; complete: boolean; end: string };
  hybrid: { frames: number; complete: boolean; end: string };
  /**
   * 'cut-short': the fp walk did not reach the thread entry;
   * 'skipped-frames': it did, but missed frames the hybrid walk found (the nanosleep case);
   * 'intact': both agree; 'not-captured': the thread was not captured.
   */
  status: 'cut-short' | 'skipped-frames' | 'intact' | 'not-captured';
  /**
   * The last frame both walks agree on: the function that did not keep the frame-pointer chain
   * (its module is "the breaker"). Null when the thread is intact or the walks share no frame.
   */
  brokeAt: ExplainFrame | null;
  /** The first frame the fp walk missed: the next frame of the hybrid stack. */
  missed: ExplainFrame | null;
  /** The hybrid (CFI + frame pointers) walk reached the thread entry. */
  recovered: boolean;
}

export interface ExplainReport {
  pid: number;
  command: string;
  /** How the two walks were made: one capture, unwound twice (see src/audit/explain.ts). */
  method: string;
  threads: ExplainThread[];
  /** Captured threads. */
  total: number;
  /** Threads whose fp walk did not reach the thread entry. */
  cutShort: number;
  /** Of those, threads whose hybrid walk did. */
  recovered: number;
  /** Threads the fp walk completed but with frames missing. */
  skippedFrames: number;
  /** Breaker modules, most frequent first: module → number of threads it broke. */
  breakers: { module: string; threads: number }[];
  /** "5 of 7 threads would be cut short by ...; stackshot recovered 5". */
  summary: string;
}
