// What a run will cost the target, decided and stated before the first stop: the rounds, the
// time cap, and the thread stops they add up to.
import { InvalidOptionError, rejectUnknownOptions } from '../options';
import type { BenchmarkOptions, BenchPath, BenchPlan, ReferenceTool } from './types';

export const BENCH_DEFAULTS = { count: 10, durationMs: 10_000 };
export const BENCH_PATHS: readonly BenchPath[] = ['ptrace-rolling', 'ptrace-consistent', 'stop-free'];
const OPTION_KEYS = [
  'count',
  'durationMs',
  'compare',
  'onPlan',
  'onRound',
] as const satisfies readonly (keyof BenchmarkOptions)[];
/** The most rounds one run may ask for. */
const MAX_COUNT = 10_000;

/** References that stop the target's threads (perf samples without a stop). */
const STOPPING: readonly ReferenceTool[] = ['eu-stack', 'gdb'];

export interface ResolvedBenchOptions {
  count: number;
  durationMs: number;
  compare: boolean;
}

export function resolveBenchOptions(options: BenchmarkOptions = {}): ResolvedBenchOptions {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidOptionError(`options must be an object, got ${String(options)}`);
  }
  rejectUnknownOptions(options, OPTION_KEYS);
  const count = options.count ?? BENCH_DEFAULTS.count;
  if (!Number.isInteger(count) || count <= 0 || count > MAX_COUNT) {
    throw new InvalidOptionError(`options.count must be an integer from 1 to ${MAX_COUNT}, got ${String(count)}`);
  }
  const durationMs = options.durationMs ?? BENCH_DEFAULTS.durationMs;
  if (typeof durationMs !== 'number' || !(durationMs > 0) || !Number.isFinite(durationMs)) {
    throw new InvalidOptionError(`options.durationMs must be a finite number above 0, got ${String(durationMs)}`);
  }
  return { count, durationMs, compare: options.compare === true };
}

export function makePlan(
  o: ResolvedBenchOptions,
  target: { pid: number; command: string; threads: number },
  references: ReferenceTool[],
): BenchPlan {
  const { threads } = target;
  return {
    pid: target.pid,
    command: target.command,
    threads,
    rounds: o.count,
    durationMs: o.durationMs,
    paths: [...BENCH_PATHS],
    maxStops: o.count * threads * BENCH_PATHS.length,
    references,
    // One more stackshot snapshot right before them is their baseline.
    referenceStops: references.length === 0 ? 0 : (references.filter((r) => STOPPING.includes(r)).length + 1) * threads,
  };
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(ms % 1000 === 0 ? 0 : 1)} s` : `${ms} ms`;
}

/** "at most 210 thread stops: 10 rounds × 7 threads × 3 capture paths, over at most 10 s". */
export function describePlan(plan: BenchPlan): string {
  let s =
    `bench: pid ${plan.pid} (${plan.command}), ${plan.threads} thread${plan.threads === 1 ? '' : 's'}: at most ` +
    `${plan.maxStops} thread stops (${plan.rounds} rounds × ${plan.threads} threads × ${plan.paths.length} ` +
    `capture paths: ${plan.paths.join(', ')}; stop-free stops only the threads it cannot serve), ` +
    `no round started after ${seconds(plan.durationMs)}`;
  if (plan.references.length > 0) {
    s += `; then one more snapshot and ${plan.references.join(', ')} once each (${plan.referenceStops} more stops)`;
  }
  return s + '\n';
}
