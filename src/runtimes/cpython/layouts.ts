// Where CPython keeps what a stack needs, per version (x86-64 and aarch64 share them: LP64).
// 3.11 and 3.12 by their known layouts (offsetof() against each version's own headers);
// 3.13 from the _Py_DebugOffsets table the interpreter publishes at the start of _PyRuntime
// for out-of-process readers. Any other version is unsupported, never guessed.

/** How a frame marks the bottom of one native _PyEval_EvalFrameDefault call. */
export type EntryMarker =
  | 'is-entry' // 3.11: the first frame an eval call pushed has is_entry set
  | 'cstack-shim'; // 3.12+: each eval call links a shim frame (owner FRAME_OWNED_BY_CSTACK) below its first

export interface PythonLayout {
  /** "3.11", "3.12", "3.13". */
  version: string;
  runtime: { interpretersHead: number };
  interpreter: { next: number; threadsHead: number };
  thread: {
    next: number;
    nativeThreadId: number;
    /** 3.11/3.12 reach the current frame through tstate->cframe->current_frame; 3.13 directly. */
    cframe: number | null;
    currentFrame: number;
  };
  frame: { code: number; previous: number; instr: number; owner: number; isEntry: number | null; size: number };
  entry: EntryMarker;
  /** 3.11/3.12 keep the last executed instruction (prev_instr), 3.13 the current one (instr_ptr). */
  code: { filename: number; name: number; qualname: number; linetable: number; firstlineno: number; adaptive: number };
  unicode: { length: number; state: number; asciiSize: number; compactSize: number };
}

/** Object header fields, the same in every supported version (non-free-threaded builds). */
export const OB_TYPE = 8;
export const OB_SIZE = 16;
export const BYTES_SVAL = 32;
/** _PyInterpreterFrame.owner value of the shim frames in 3.12+. */
export const FRAME_OWNED_BY_CSTACK = 3;

const PY311: PythonLayout = {
  version: '3.11',
  runtime: { interpretersHead: 40 },
  interpreter: { next: 0, threadsHead: 16 },
  thread: { next: 8, nativeThreadId: 160, cframe: 56, currentFrame: 8 },
  frame: { code: 32, previous: 48, instr: 56, owner: 69, isEntry: 68, size: 72 },
  entry: 'is-entry',
  code: { filename: 112, name: 120, qualname: 128, linetable: 136, firstlineno: 72, adaptive: 184 },
  unicode: { length: 16, state: 32, asciiSize: 48, compactSize: 72 },
};

const PY312: PythonLayout = {
  version: '3.12',
  runtime: { interpretersHead: 40 },
  interpreter: { next: 0, threadsHead: 72 },
  thread: { next: 8, nativeThreadId: 144, cframe: 56, currentFrame: 0 },
  frame: { code: 0, previous: 8, instr: 56, owner: 70, isEntry: null, size: 72 },
  entry: 'cstack-shim',
  code: { filename: 112, name: 120, qualname: 128, linetable: 136, firstlineno: 68, adaptive: 192 },
  unicode: { length: 16, state: 32, asciiSize: 40, compactSize: 56 },
};

/** The versions with a fixed layout, by PY_VERSION_HEX >> 16. */
const FIXED: ReadonlyMap<number, PythonLayout> = new Map([
  [0x030b, PY311],
  [0x030c, PY312],
]);

/** Major and minor of a PY_VERSION_HEX (0x030b02f0 → 3.11). */
export function versionText(hex: number): string {
  return `${(hex >>> 24) & 0xff}.${(hex >>> 16) & 0xff}.${(hex >>> 8) & 0xff}`;
}

/** Release levels of PY_VERSION_HEX: alphas and betas changed layouts; rc and final did not. */
const RELEASE_CANDIDATE = 0xc;

/** 3.11 and 3.12 need no memory read; 3.13 reads its table (debugOffsets); others: null. */
export function fixedLayout(hex: number): PythonLayout | null {
  if (((hex >>> 4) & 0xf) < RELEASE_CANDIDATE) return null;
  return FIXED.get(hex >>> 16) ?? null;
}

/** Whether this version publishes _Py_DebugOffsets in a layout this file knows (3.13). */
export function hasDebugOffsets(hex: number): boolean {
  return hex >>> 16 === 0x030d && ((hex >>> 4) & 0xf) >= RELEASE_CANDIDATE;
}

/** Bytes of 3.13's _Py_DebugOffsets (73 u64 fields). */
export const DEBUG_OFFSETS_SIZE = 73 * 8;
const COOKIE = 'xdebugpy';
/** A struct offset larger than this is not an offset. */
const MAX_OFFSET = 1 << 20;

/** _Py_DebugOffsets.free_threaded: a free-threaded (3.13t) build, with other object headers. */
export function isFreeThreaded(buf: Buffer): boolean {
  return buf.length >= 24 && buf.readBigUInt64LE(16) !== 0n;
}

/**
 * 3.13's layout from its _Py_DebugOffsets bytes (the start of _PyRuntime). Null when the
 * cookie, version or any offset does not check out, or the build is free-threaded (other
 * object headers).
 */
export function layoutFromDebugOffsets(buf: Buffer, hex: number): PythonLayout | null {
  if (buf.length < DEBUG_OFFSETS_SIZE || buf.toString('latin1', 0, 8) !== COOKIE) return null;
  const f = (i: number): number => {
    const v = buf.readBigUInt64LE(i * 8);
    return v < BigInt(MAX_OFFSET) ? Number(v) : -1;
  };
  const version = buf.readBigUInt64LE(8);
  if (version >> 16n !== BigInt(hex >>> 16) || f(2) !== 0) return null;
  // Field indices in 3.13's struct (Include/internal/pycore_runtime.h).
  const layout: PythonLayout = {
    version: '3.13',
    runtime: { interpretersHead: f(5) },
    interpreter: { next: f(8), threadsHead: f(9) },
    thread: { next: f(21), nativeThreadId: f(25), cframe: null, currentFrame: f(23) },
    frame: { code: f(30), previous: f(29), instr: f(31), owner: f(33), isEntry: null, size: 0 },
    entry: 'cstack-shim',
    code: { filename: f(35), name: f(36), qualname: f(37), linetable: f(38), firstlineno: f(39), adaptive: f(43) },
    // The compact (non-ASCII) header adds utf8_length and utf8 to the ASCII one, as in 3.12.
    unicode: { length: f(69), state: f(68), asciiSize: f(70), compactSize: f(70) + 16 },
  };
  const groups = [layout.runtime, layout.interpreter, layout.thread, layout.frame, layout.code, layout.unicode];
  const offsets = groups.flatMap((o) => Object.values(o).filter((v): v is number => typeof v === 'number'));
  if (offsets.some((v) => v < 0) || f(45) !== OB_TYPE) return null;
  layout.frame.size = Math.max(layout.frame.code, layout.frame.previous, layout.frame.instr, layout.frame.owner) + 8;
  return layout;
}
