// SnapshotOptions: defaults, validation, and the exact form the native capture takes.
import type { RawCaptureOptions } from './addon';
import type { CaptureChoice, Schedule, SnapshotOptions } from './types';

export const DEFAULTS = {
  schedule: 'rolling' as Schedule,
  maxFrames: 1024,
  stackBytes: 512 * 1024,
  stopTimeoutMs: 1000,
};

/** Node's own shape for a bad argument: code ERR_INVALID_ARG_VALUE. */
export class InvalidOptionError extends RangeError {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  constructor(message: string) {
    super(message);
    this.name = 'RangeError';
  }
}

function positiveInt(name: string, value: unknown, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || value > max) {
    throw new InvalidOptionError(`options.${name} must be an integer from 1 to ${max}, got ${String(value)}`);
  }
  return value;
}

/** Every key of SnapshotOptions: any other key (a typo such as `maxframes`) is refused. */
export const SNAPSHOT_OPTION_KEYS = [
  'threads',
  'schedule',
  'maxFrames',
  'stackBytes',
  'symbolize',
  'stopTimeoutMs',
  'unwind',
  'stackScan',
  'lines',
  'runtimeFrames',
  'capture',
] as const satisfies readonly (keyof SnapshotOptions)[];
// A type error here means a key of SnapshotOptions is missing from SNAPSHOT_OPTION_KEYS.
type UnlistedKey = Exclude<keyof SnapshotOptions, (typeof SNAPSHOT_OPTION_KEYS)[number]>;
const _everyKeyListed: [UnlistedKey] extends [never] ? true : UnlistedKey = true;

/** Refuses keys of options that are not in known, naming a known key that differs only in case. */
export function rejectUnknownOptions(options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (known.includes(key)) continue;
    const near = known.find((k) => k.toLowerCase() === key.toLowerCase());
    throw new InvalidOptionError(
      `options.${key} is not an option${near === undefined ? '' : ` (did you mean ${near}?)`}`,
    );
  }
}

export interface ResolvedOptions {
  raw: RawCaptureOptions;
  schedule: Schedule;
  symbolize: boolean;
  maxFrames: number;
  framePointersOnly: boolean;
  stackScan: boolean;
  lines: boolean;
  runtimeFrames: boolean;
}

export function resolveOptions(options: SnapshotOptions = {}): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`options must be an object, got ${String(options)}`);
  }
  rejectUnknownOptions(options, SNAPSHOT_OPTION_KEYS);
  const schedule = options.schedule ?? DEFAULTS.schedule;
  if (schedule !== 'rolling' && schedule !== 'consistent') {
    throw new InvalidOptionError(`options.schedule must be 'rolling' or 'consistent', got ${String(schedule)}`);
  }
  const unwind = options.unwind ?? 'hybrid';
  if (unwind !== 'hybrid' && unwind !== 'fp') {
    throw new InvalidOptionError(`options.unwind must be 'hybrid' or 'fp', got ${String(unwind)}`);
  }
  const capture = resolveCapture(options.capture, schedule, unwind);
  const tids = options.threads ?? [];
  if (!Array.isArray(tids) || tids.some((t) => !Number.isInteger(t) || t <= 0)) {
    throw new InvalidOptionError('options.threads must be an array of thread ids (positive integers)');
  }
  return {
    schedule,
    symbolize: options.symbolize ?? true,
    maxFrames: positiveInt('maxFrames', options.maxFrames, DEFAULTS.maxFrames, 1 << 20),
    framePointersOnly: unwind === 'fp',
    stackScan: options.stackScan ?? true,
    lines: options.lines === true,
    runtimeFrames: options.runtimeFrames ?? true,
    raw: {
      tids: [...new Set(tids)],
      consistent: schedule === 'consistent',
      stackBytes: positiveInt('stackBytes', options.stackBytes, DEFAULTS.stackBytes, 64 << 20),
      stopTimeoutMs: positiveInt('stopTimeoutMs', options.stopTimeoutMs, DEFAULTS.stopTimeoutMs, 60_000),
      capture,
    },
  };
}

const CAPTURE_CHOICES: readonly CaptureChoice[] = ['auto', 'ptrace', 'blocked', 'perf'];

/** The capture path the native side is asked for. */
function resolveCapture(value: unknown, schedule: Schedule, unwind: 'hybrid' | 'fp'): CaptureChoice {
  const capture = value ?? 'auto';
  if (!CAPTURE_CHOICES.includes(capture as CaptureChoice)) {
    throw new InvalidOptionError(
      `options.capture must be one of ${CAPTURE_CHOICES.join(', ')}, got ${String(capture)}`,
    );
  }
  if (schedule === 'consistent') {
    // One cut across all threads needs them all stopped at once.
    if (capture !== 'auto' && capture !== 'ptrace') {
      throw new InvalidOptionError(
        `options.capture '${String(capture)}' cannot give the 'consistent' schedule its one cut: use 'auto' or 'ptrace'`,
      );
    }
    return 'ptrace';
  }
  // A frame-pointer walk needs %rbp from the first frame on, which only a stop gives.
  if (capture === 'auto' && unwind === 'fp') return 'ptrace';
  return capture as CaptureChoice;
}
