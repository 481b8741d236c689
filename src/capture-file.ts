// A capture saved to a file and unwound later: `stackshot <pid> --save FILE`, then
// `stackshot unwind FILE`. The file holds what the stop produced (registers, stack bytes, the
// maps text) and nothing derived, so a newer unwinder gives a better answer from an old file.
// It also records each module's identity (size, build-id): module files are found again by
// their paths (the process may be long gone) and must be the files captured, or the capture
// embeds what is needed of them (--embed-modules) and unwinds anywhere.
import * as fs from 'node:fs';

import type { RawCapture } from './addon';
import { StackshotError } from './errors';
import { resolveOptions } from './options';
import { buildSnapshot, capture, createSymbolizer, fileBoundOrigin, OFFLINE, type Origin } from './snapshot';
import type { Snapshot, SnapshotOptions } from './types';
import {
  CAPTURE_FORMAT,
  CAPTURE_LIMITS,
  CAPTURE_VERSION,
  CaptureFieldError,
  checkCapture,
  type SavedCapture,
  type SavedModule,
} from './capture/capture-schema';
import { checkModules, unusableModules, type ModuleCheck } from './capture/check-modules';
import { CaptureModules } from './capture/embedded-modules';
import { recordModules } from './capture/record-modules';
import { checkOutputPath, outputFileError } from './output/output-file';

export { CAPTURE_FORMAT, type SavedCapture, type SavedModule, type SavedThread } from './capture/capture-schema';

/** How a capture is saved. */
export interface SaveOptions {
  /** Embed each module's unwind tables and symbols (a reduced ELF per module), so the capture
   *  unwinds and names where its files are gone or changed: on another machine, after an upgrade. */
  embedModules?: boolean;
}

/** How a saved capture is unwound. */
export interface UnwindFileOptions {
  /** Unwind even when module files changed since the capture: their frames stay unnamed (with a
   *  symbolReason) and are walked by frame pointers. Default: refuse (code ESTALE). */
  allowChangedModules?: boolean;
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

function toSaved(raw: RawCapture, origin: Origin, command: string, modules: SavedModule[]): SavedCapture {
  return {
    format: CAPTURE_FORMAT,
    version: CAPTURE_VERSION,
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
    modules,
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

/** The file's text: a regular file (opened without blocking: a FIFO would hang), size capped. */
function readCaptureText(file: string): string {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw badFile(file, (e as Error).message, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw badFile(file, 'not a regular file');
    if (st.size > CAPTURE_LIMITS.fileBytes)
      throw badFile(file, `${st.size} bytes: larger than a capture may be (${CAPTURE_LIMITS.fileBytes})`, 'EFBIG');
    // Exactly the size checked: a file that grows meanwhile is not read past it.
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const n = fs.readSync(fd, buf, got, st.size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.toString('utf8', 0, got);
  } catch (e) {
    if (e instanceof StackshotError) throw e;
    throw badFile(file, (e as Error).message, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads and checks a capture file. Throws a StackshotError (reason 'bad-capture-file') naming what is wrong. */
export function readCaptureFile(file: string): SavedCapture {
  const text = readCaptureText(file);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badFile(file, `not JSON (${(e as Error).message})`, 'EINVAL', e);
  }
  try {
    return checkCapture(json);
  } catch (e) {
    if (e instanceof CaptureFieldError) throw badFile(file, e.message);
    throw e;
  }
}

/** Captures pid, writes the capture to file, and returns the snapshot built from that same capture. */
export async function captureToFile(
  pid: number,
  file: string,
  options?: SnapshotOptions,
  save: SaveOptions = {},
): Promise<Snapshot> {
  checkOutputPath(file);
  const c = await capture(pid, options, undefined, fileBoundOrigin);
  const shot = buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked);
  const modules = recordModules(c.raw.pid, c.raw.maps, save.embedModules === true);
  try {
    fs.writeFileSync(file, JSON.stringify(toSaved(c.raw, c.origin, shot.command, modules)));
  } catch (err) {
    throw outputFileError(file, err);
  }
  return shot;
}

function modulesChanged(file: string, changed: ModuleCheck[]): StackshotError {
  const list = changed.map((c) => `${c.path} (${c.changed ?? 'changed'})`).join('; ');
  return new StackshotError({
    code: 'ESTALE',
    syscall: 'open',
    reason: 'modules-changed',
    message: `${file}: ${changed.length === 1 ? 'a module' : `${changed.length} modules`} changed since the capture: ${list}`,
    hint: 'unwind where those files are as captured, save with --embed-modules, or pass --allow-changed-modules to leave their frames unnamed',
  });
}

/**
 * Unwinds and names a saved capture (no live process needed). Each module comes from the file
 * at its path when that is the file captured (size and build-id), else from the capture's
 * embedded image; a module that changed and is not embedded is refused (StackshotError, code
 * ESTALE, reason 'modules-changed', naming each), unless `allowChangedModules`.
 */
export function snapshotFromFile(file: string, options?: SnapshotOptions, unwind: UnwindFileOptions = {}): Snapshot {
  const started = process.hrtime.bigint();
  const saved = readCaptureFile(file);
  const checks = checkModules(saved);
  const changed = unusableModules(checks);
  if (changed.length > 0 && unwind.allowChangedModules !== true) throw modulesChanged(file, changed);
  const modules = new CaptureModules(saved.arch, checks);
  const symbolizer = createSymbolizer({ supplied: modules.supplied });
  const origin: Origin = {
    arch: saved.arch,
    filesOf: OFFLINE,
    codeOf: 0,
    symbolizer,
    command: saved.command,
    schedule: saved.schedule,
    takenAt: saved.takenAt,
  };
  try {
    return buildSnapshot(fromSaved(saved), resolveOptions(options), started, origin);
  } finally {
    symbolizer.modules.clear();
    modules.release();
  }
}
