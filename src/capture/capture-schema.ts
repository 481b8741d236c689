// The shape of a capture file (`stackshot <pid> --save FILE`), and its check. A capture file is
// untrusted input: anyone may have written or edited it. So every field is checked where it
// comes in (type, closed set, range, size) before anything uses it, and each failure names the
// field: a capture that is not exactly what stackshot writes is refused, never half-used.
import type { RawThreadCapture } from '../addon';
import { ARCHES, isArch, type Arch, type CaptureFallback, type Schedule } from '../types';

export const CAPTURE_FORMAT = 'stackshot-capture';
/** 2: module identities (and images) were added; version 1 files have none, and are still read. */
export const CAPTURE_VERSION = 2;
const READABLE_VERSIONS = [1, 2];

export interface SavedThread {
  tid: number;
  name: string;
  state: string;
  status: RawThreadCapture['status'];
  errno: number;
  syscall: string;
  pauseNs: number;
  /** How the thread was captured (absent in older files: 'ptrace'); 'blocked' knows only pc and sp. */
  capture?: RawThreadCapture['capture'];
  captureFallback?: RawThreadCapture['captureFallback'];
  /** Registers as hex strings: pc, sp, fp, lr, and every register in NT_PRSTATUS order. */
  pc: string;
  sp: string;
  fp: string;
  lr: string;
  regs: string[];
  /** Stack bytes from sp upward, base64. */
  stack: string;
  /** RawThreadCapture.tracerPid (absent in files written before it existed). */
  tracerPid?: number;
  /** RawThreadCapture.stackLimited (absent in files written before it existed). */
  stackLimited?: boolean;
  /** RawThreadCapture.stackHoles as numbers (absent in files written before it existed). */
  stackHoles?: number[];
  /** RawThreadCapture.pacMask as hex (aarch64; absent when none was read). */
  pacMask?: string;
}

/**
 * A file the capture's executable mappings show (or the vdso), as it was when captured: what
 * `unwind` checks the file found at `path` against, and (with --embed-modules) what unwinding
 * and naming need of it, so that the capture unwinds where the file is gone or changed.
 */
export interface SavedModule {
  /** The mapping's path, device and inode as the maps text shows them (the vdso: '[vdso]', 0). */
  path: string;
  dev: string;
  inode: number;
  /** The file's size; absent when it could not be read at capture time (`unreadable`). */
  size?: number;
  /** Its GNU build-id (hex); when it has none, `sha256` of its bytes identifies it. */
  buildId?: string;
  sha256?: string;
  /** Why the file could not be identified at capture time: it is then not checked. */
  unreadable?: string;
  /** With --embed-modules: why this module has no image (too large, unreadable). */
  notEmbedded?: string;
  /** With --embed-modules: a reduced ELF (base64) holding the file's PT_LOAD headers, unwind
   *  sections and function symbols (module-image.ts). */
  image?: string;
}

export interface SavedCapture {
  format: typeof CAPTURE_FORMAT;
  version: number;
  /** The machine the capture was taken on. */
  arch: Arch;
  pid: number;
  command: string;
  schedule: Schedule;
  takenAt: string;
  maps: string;
  captureNs: number;
  bytesCopied: number;
  /** Absent in files written before it existed. */
  execDuringCapture?: boolean;
  threads: SavedThread[];
  /** Absent in version 1 files (their files cannot be checked). */
  modules?: SavedModule[];
}

/** Limits on what a capture file may hold: far above what stackshot writes, far below harm. */
export const CAPTURE_LIMITS = {
  /** The whole file (a capture with node's modules embedded: 16 MB). Below V8's longest
   *  string (2^29 − 24 characters): the file is parsed as one. */
  fileBytes: 500 * 1024 * 1024,
  threads: 1 << 16,
  /** One thread's stack copy: stackBytes is at most 64 MiB. */
  stackBytes: 64 * 1024 * 1024,
  /** NT_PRSTATUS holds 27 registers on x86-64, 34 on aarch64. */
  regs: 64,
  mapsChars: 64 * 1024 * 1024,
  modules: 1 << 16,
  /** One embedded module image, decoded. */
  imageBytes: 256 * 1024 * 1024,
  /** All images together, base64: the rest of the file stays within fileBytes. */
  imagesChars: 400 * 1024 * 1024,
  text: 4096,
};

const SCHEDULES: readonly Schedule[] = ['rolling', 'consistent'];
/** Closed sets of RawThreadCapture fields (the addon numbers them the same: test/capture-paths.test.ts). */
export const STATUSES: readonly RawThreadCapture['status'][] = ['captured', 'exited', 'timeout', 'failed'];
export const CAPTURES: readonly RawThreadCapture['capture'][] = ['ptrace', 'blocked', 'perf'];
const FALLBACKS: readonly (CaptureFallback | '')[] = [
  '',
  'running',
  'traced',
  'not-in-syscall',
  'ran-during-copy',
  'register-unknown',
  'unreadable',
  'no-schedstat',
  'perf-unavailable',
  'no-sample',
  'sample-too-short',
];

/** A field that is not what stackshot writes: its path in the file and what is wrong. */
export class CaptureFieldError extends Error {}

type Json = Record<string, unknown>;

const HEX64 = /^0x[0-9a-f]{1,16}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
const HEX_ID = /^[0-9a-f]{2,128}$/;

function fail(field: string, what: string): never {
  throw new CaptureFieldError(`${field}: ${what}`);
}

function object(v: unknown, field: string): Json {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(field, 'not an object');
  return v as Json;
}

function text(v: unknown, field: string, max = CAPTURE_LIMITS.text): string {
  if (typeof v !== 'string') fail(field, 'not a string');
  if (v.length > max) fail(field, `longer than ${max} characters`);
  return v;
}

function int(v: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    fail(field, `not an integer from ${min} to ${max}`);
  return v;
}

function oneOf<T>(v: unknown, field: string, set: readonly T[]): T {
  if (!set.includes(v as T))
    fail(field, `${JSON.stringify(v)} is not one of ${set.map((s) => `"${String(s)}"`).join(', ')}`);
  return v as T;
}

function optional<T>(v: unknown, check: (v: unknown) => T): T | undefined {
  return v === undefined ? undefined : check(v);
}

function list(v: unknown, field: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(field, 'not an array');
  if (v.length > max) fail(field, `more than ${max} entries`);
  return v;
}

function hex64(v: unknown, field: string): string {
  if (typeof v !== 'string' || !HEX64.test(v)) fail(field, 'not a 64-bit hex number like "0x7f12"');
  return v;
}

/** Base64 text of at most maxBytes decoded bytes. */
export function base64(v: unknown, field: string, maxBytes: number): string {
  if (typeof v !== 'string' || v.length % 4 !== 0 || !BASE64.test(v)) fail(field, 'not base64');
  if ((v.length / 4) * 3 > maxBytes + 2) fail(field, `more than ${maxBytes} bytes`);
  return v;
}

function checkThread(v: unknown, field: string): SavedThread {
  const t = object(v, field);
  const f = (k: string) => `${field}.${k}`;
  const regs = list(t.regs, f('regs'), CAPTURE_LIMITS.regs).map((r, i) => hex64(r, `${f('regs')}[${i}]`));
  const holes = optional(t.stackHoles, (h) => list(h, f('stackHoles'), CAPTURE_LIMITS.stackBytes / 4096));
  return {
    tid: int(t.tid, f('tid'), 1, 2 ** 31 - 1),
    name: text(t.name, f('name')),
    state: text(t.state, f('state'), 1),
    status: oneOf(t.status, f('status'), STATUSES),
    errno: int(t.errno, f('errno'), 0, 4095),
    syscall: text(t.syscall, f('syscall')),
    pauseNs: int(t.pauseNs, f('pauseNs'), 0),
    capture: optional(t.capture, (c) => oneOf(c, f('capture'), CAPTURES)),
    captureFallback: optional(t.captureFallback, (c) => oneOf(c, f('captureFallback'), FALLBACKS)),
    pc: hex64(t.pc, f('pc')),
    sp: hex64(t.sp, f('sp')),
    fp: hex64(t.fp, f('fp')),
    lr: hex64(t.lr, f('lr')),
    regs,
    stack: base64(t.stack, f('stack'), CAPTURE_LIMITS.stackBytes),
    tracerPid: optional(t.tracerPid, (p) => int(p, f('tracerPid'), 0, 2 ** 31 - 1)),
    stackLimited: optional(t.stackLimited, (b) => oneOf(b, f('stackLimited'), [true, false])),
    stackHoles: holes?.map((n, i) => int(n, `${f('stackHoles')}[${i}]`, 0, CAPTURE_LIMITS.stackBytes)),
    pacMask: optional(t.pacMask, (m) => hex64(m, f('pacMask'))),
  };
}

function checkModule(v: unknown, field: string): SavedModule {
  const m = object(v, field);
  const f = (k: string) => `${field}.${k}`;
  const hexId = (x: unknown, k: string) => {
    if (typeof x !== 'string' || !HEX_ID.test(x)) fail(f(k), 'not a lowercase hex string');
    return x;
  };
  const path = text(m.path, f('path'));
  if (!path.startsWith('/') && path !== '[vdso]') fail(f('path'), 'neither an absolute path nor "[vdso]"');
  return {
    path,
    dev: text(m.dev, f('dev'), 16),
    inode: int(m.inode, f('inode'), 0),
    size: optional(m.size, (s) => int(s, f('size'), 0)),
    buildId: optional(m.buildId, (s) => hexId(s, 'buildId')),
    sha256: optional(m.sha256, (s) => hexId(s, 'sha256')),
    unreadable: optional(m.unreadable, (s) => text(s, f('unreadable'))),
    notEmbedded: optional(m.notEmbedded, (s) => text(s, f('notEmbedded'))),
    image: optional(m.image, (s) => base64(s, f('image'), CAPTURE_LIMITS.imageBytes)),
  };
}

/** The capture in `json` (parsed from a file), checked field by field; throws CaptureFieldError. */
export function checkCapture(json: unknown): SavedCapture {
  const c = object(json, 'the file');
  if (c.format !== CAPTURE_FORMAT) fail('format', `not a stackshot capture (no "format": "${CAPTURE_FORMAT}")`);
  if (!READABLE_VERSIONS.includes(c.version as number))
    fail(
      'version',
      `capture format version ${String(c.version)}; this stackshot reads versions 1 to ${CAPTURE_VERSION}`,
    );
  if (!isArch(c.arch))
    fail(
      'arch',
      `unknown architecture ${JSON.stringify(c.arch)}: this stackshot unwinds ${ARCHES.join(' and ')} captures`,
    );
  const threads = list(c.threads, 'threads', CAPTURE_LIMITS.threads);
  const modules = optional(c.modules, (m) => list(m, 'modules', CAPTURE_LIMITS.modules));
  return {
    format: CAPTURE_FORMAT,
    version: c.version as number,
    arch: c.arch,
    pid: int(c.pid, 'pid', 1, 2 ** 31 - 1),
    command: text(c.command, 'command'),
    schedule: oneOf(c.schedule, 'schedule', SCHEDULES),
    takenAt: text(c.takenAt, 'takenAt', 64),
    maps: text(c.maps, 'maps', CAPTURE_LIMITS.mapsChars),
    captureNs: int(c.captureNs, 'captureNs', 0),
    bytesCopied: int(c.bytesCopied, 'bytesCopied', 0),
    execDuringCapture: optional(c.execDuringCapture, (b) => oneOf(b, 'execDuringCapture', [true, false])),
    threads: threads.map((t, i) => checkThread(t, `threads[${i}]`)),
    modules: modules?.map((m, i) => checkModule(m, `modules[${i}]`)),
  };
}
