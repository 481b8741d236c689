// A capture saved to a file and unwound later: `stackshot <pid> --save FILE`, then
// `stackshot unwind FILE`. The file holds what the stop produced (registers, stack bytes, the
// maps text) and nothing derived, so a newer unwinder gives a better answer from an old file.
// Module files are found again by their paths (the process may be long gone), which is why a
// capture unwinds fully only where those files still exist (the same machine or image).
import * as fs from 'node:fs';

import type { RawCapture, RawThreadCapture } from './addon';
import { StackshotError } from './errors';
import { resolveOptions } from './options';
import { buildSnapshot, capture, OFFLINE, type Origin } from './snapshot';
import type { Schedule, Snapshot, SnapshotOptions } from './types';
import { checkOutputPath, outputFileError } from './output/output-file';

export const CAPTURE_FORMAT = 'stackshot-capture';
const VERSION = 1;

interface SavedThread {
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

export interface SavedCapture {
  format: typeof CAPTURE_FORMAT;
  version: number;
  /** 'x64' or 'arm64': the machine the capture was taken on. */
  arch: string;
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
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

function toSaved(raw: RawCapture, origin: Origin, command: string): SavedCapture {
  return {
    format: CAPTURE_FORMAT,
    version: VERSION,
    arch: origin.arch,
    pid: raw.pid,
    command,
    schedule: origin.schedule,
    takenAt: origin.takenAt,
    maps: raw.maps,
    captureNs: raw.captureNs,
    bytesCopied: raw.bytesCopied,
    execDuringCapture: raw.execDuringCapture,
    threads: raw.threads.map((t) => ({
      tid: t.tid,
      name: t.name,
      state: t.state,
      status: t.status,
      errno: t.errno,
      syscall: t.syscall,
      pauseNs: t.pauseNs,
      capture: t.capture,
      captureFallback: t.captureFallback,
      pc: hex(t.pc),
      sp: hex(t.sp),
      fp: hex(t.fp),
      lr: hex(t.lr),
      regs: [...t.regs].map(hex),
      stack: t.stack.toString('base64'),
      tracerPid: t.tracerPid,
      stackLimited: t.stackLimited,
      stackHoles: t.stackHoles ? [...t.stackHoles] : undefined,
      pacMask: t.pacMask === undefined ? undefined : hex(t.pacMask),
    })),
  };
}

function fromSaved(saved: SavedCapture): RawCapture {
  return {
    pid: saved.pid,
    maps: saved.maps,
    captureNs: saved.captureNs,
    totalNs: saved.captureNs,
    bytesCopied: saved.bytesCopied,
    execDuringCapture: saved.execDuringCapture === true,
    perfRefused: '',
    threads: saved.threads.map((t) => {
      const stack = Buffer.from(t.stack, 'base64');
      return {
        tid: t.tid,
        name: t.name,
        state: t.state,
        status: t.status,
        errno: t.errno,
        syscall: t.syscall,
        reinjectedSignal: 0,
        pauseNs: t.pauseNs,
        capture: t.capture ?? 'ptrace',
        captureFallback: t.captureFallback ?? '',
        pc: BigInt(t.pc),
        sp: BigInt(t.sp),
        fp: BigInt(t.fp),
        lr: BigInt(t.lr),
        regs: BigUint64Array.from(t.regs.map((r) => BigInt(r))),
        stackBytes: stack.length,
        stack,
        tracerPid: t.tracerPid,
        stackLimited: t.stackLimited,
        stackHoles: t.stackHoles ? Uint32Array.from(t.stackHoles) : undefined,
        pacMask: t.pacMask === undefined ? undefined : BigInt(t.pacMask),
      };
    }),
  };
}

function badFile(file: string, what: string, code = 'EINVAL', cause?: unknown): StackshotError {
  return new StackshotError({
    code,
    syscall: 'open',
    reason: 'bad-capture-file',
    message: `${file}: ${what}`,
    hint: 'give a file written by `stackshot <pid> --save <file>`',
    cause,
  });
}

/** Reads and checks a capture file. Throws a StackshotError (reason 'bad-capture-file') naming what is wrong. */
export function readCaptureFile(file: string): SavedCapture {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw badFile(file, (e as Error).message, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
  }
  let saved: SavedCapture;
  try {
    saved = JSON.parse(text) as SavedCapture;
  } catch (e) {
    throw badFile(file, `not JSON (${(e as Error).message})`, 'EINVAL', e);
  }
  if (saved?.format !== CAPTURE_FORMAT)
    throw badFile(file, `not a stackshot capture (no "format": "${CAPTURE_FORMAT}")`);
  if (saved.version !== VERSION)
    throw badFile(file, `capture format version ${String(saved.version)}; this stackshot reads version ${VERSION}`);
  if (!Array.isArray(saved.threads) || typeof saved.maps !== 'string') throw badFile(file, 'threads or maps missing');
  return saved;
}

/** Captures pid, writes the capture to file, and returns the snapshot built from that same capture. */
export async function captureToFile(pid: number, file: string, options?: SnapshotOptions): Promise<Snapshot> {
  checkOutputPath(file);
  const c = await capture(pid, options);
  const shot = buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked);
  try {
    fs.writeFileSync(file, JSON.stringify(toSaved(c.raw, c.origin, shot.command)));
  } catch (err) {
    throw outputFileError(file, err);
  }
  return shot;
}

/** Unwinds and names a saved capture (no live process needed: modules are opened by path). */
export function snapshotFromFile(file: string, options?: SnapshotOptions): Snapshot {
  const started = process.hrtime.bigint();
  const saved = readCaptureFile(file);
  const origin: Origin = {
    arch: saved.arch,
    filesOf: OFFLINE,
    codeOf: 0,
    command: saved.command,
    schedule: saved.schedule,
    takenAt: saved.takenAt,
  };
  return buildSnapshot(fromSaved(saved), resolveOptions(options), started, origin);
}
