// Parsers for the CLI's option values. Each throws commander's InvalidArgumentError on bad
// input, which the CLI reports as a usage error (exit code 2).
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CaptureChoice, Schedule, SnapshotOptions } from '../types';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 };

/** "4096", "512k", "512K", "512KiB", "1m", "1MB" → bytes (binary units: k = 1024). */
export function parseByteSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgb]?)(?:i?b)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError('expected a size like 65536, 512k or 1m.');
  const n = Math.round(Number(m[1]) * UNITS[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('the size must be greater than 0.');
  return n;
}

export function parsePositiveInt(value: string): number {
  if (!/^\s*\d+\s*$/.test(value)) throw new InvalidArgumentError('expected a positive integer.');
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer.');
  return n;
}

/** "1234,1240, 1241" → [1234, 1240, 1241]. */
export function parseTidList(value: string): number[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) <= 0)) {
    throw new InvalidArgumentError('expected thread ids separated by commas, e.g. 1234,1240.');
  }
  return [...new Set(parts.map(Number))];
}

export function parseSchedule(value: string): Schedule {
  if (value === 'rolling' || value === 'consistent') return value;
  throw new InvalidArgumentError("expected 'rolling' or 'consistent'.");
}

/**
 * The options that shape a capture and its unwinding, shared by every command that takes
 * snapshots (`stackshot <pid>`, `demo`, `record`), so they cannot drift apart.
 */
export function addCaptureOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option(
        '--schedule <schedule>',
        'rolling: one thread stopped at a time; consistent: all threads stopped together',
      ).choices(['rolling', 'consistent']),
    )
    .option('--threads <tids>', 'only these thread ids, comma-separated', parseTidList)
    .option('--max-frames <n>', 'most frames per thread (default 1024)', parsePositiveInt)
    .option('--stack-bytes <size>', 'most stack bytes copied per thread, e.g. 512k, 1m (default 512k)', parseByteSize)
    .option('--stop-timeout <ms>', 'how long to wait for one thread to stop (default 1000)', parsePositiveInt)
    .addOption(
      new Option(
        '--unwind <mode>',
        'hybrid: .eh_frame where a module has it, frame pointers elsewhere; fp: frame pointers only',
      ).choices(['hybrid', 'fp']),
    )
    .option(
      '--no-stack-scan',
      'end a walk at a frame with neither CFI nor a frame record, instead of searching the stack',
    )
    .addOption(
      new Option(
        '--capture <path>',
        'auto: blocked threads read without a stop, others stopped; or force ptrace, blocked or perf (a thread a forced path cannot serve is stopped, and says why)',
      ).choices(['auto', 'ptrace', 'blocked', 'perf']),
    );
}

/** The options commander collects for a snapshot (after the parsers above). */
export interface SnapshotCliOptions {
  json?: boolean;
  color?: boolean;
  schedule?: Schedule;
  threads?: number[];
  maxFrames?: number;
  stackBytes?: number;
  stopTimeout?: number;
  /** false with --no-symbolize. */
  symbolize?: boolean;
  unwind?: 'hybrid' | 'fp';
  /** false with --no-stack-scan. */
  stackScan?: boolean;
  capture?: CaptureChoice;
  /** --lines: source file and line per frame. */
  lines?: boolean;
  /** --save FILE: also write the capture, to unwind later with `stackshot unwind FILE`. */
  save?: string;
}

/** SnapshotOptions holding only what was given on the command line. */
export function toSnapshotOptions(o: SnapshotCliOptions): SnapshotOptions {
  const opts: SnapshotOptions = {};
  if (o.schedule !== undefined) opts.schedule = o.schedule;
  if (o.threads !== undefined) opts.threads = o.threads;
  if (o.maxFrames !== undefined) opts.maxFrames = o.maxFrames;
  if (o.stackBytes !== undefined) opts.stackBytes = o.stackBytes;
  if (o.stopTimeout !== undefined) opts.stopTimeoutMs = o.stopTimeout;
  if (o.symbolize === false) opts.symbolize = false;
  if (o.unwind !== undefined) opts.unwind = o.unwind;
  if (o.stackScan === false) opts.stackScan = false;
  if (o.capture !== undefined) opts.capture = o.capture;
  if (o.lines === true) opts.lines = true;
  return opts;
}
