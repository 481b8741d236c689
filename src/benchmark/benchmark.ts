// benchmark(pid): what unwinding this process costs, measured on it. Each round captures the
// process once per capture path; the ptrace-rolling capture is also unwound by both methods
// (same bytes, two walks). Naming is timed cold (a fresh symbolizer) and warm. With `compare`,
// eu-stack, gdb and perf run on the same process afterwards.
import { StackshotError } from '../errors';
import { buildSnapshot, capture } from '../snapshot';
import { checkTarget } from '../procfs/preflight';
import { readComm } from '../procfs/permissions';
import type { SnapshotOptions } from '../types';
import { counterDeltas, readAllCounters, threadIds } from './kernel-accounting';
import { diskCacheInUse, measureColdWarm } from './cold-naming';
import { walkPerKind } from './kind-walks';
import { FpLossTally, MethodTally } from './methods';
import { NamingTally } from './naming';
import { PathTally } from './paths';
import { BENCH_PATHS, makePlan, resolveBenchOptions, type ResolvedBenchOptions } from './plan';
import { installedReferences, runReferences, skippedReferences } from './references';
import {
  BENCHMARK_VERSION,
  type BenchmarkOptions,
  type BenchmarkReport,
  type BenchPath,
  type ReferenceResult,
} from './types';
import { verdict } from './verdict';
import { distribution } from './distribution';

const PATH_OPTIONS: Record<BenchPath, SnapshotOptions> = {
  'ptrace-rolling': { capture: 'ptrace', schedule: 'rolling' },
  'ptrace-consistent': { schedule: 'consistent' },
  'stop-free': { capture: 'auto' },
};

/** A pause between captures, so the target runs between them (and one capture's kernel counters do not carry the last one's). */
const GAP_MS = 10;

/** Rounds whose capture is also named cold (module cache off and filled) and warm. */
const COLD_ROUNDS = 3;

/** Everything measured so far. */
class Tallies {
  readonly methods = { fp: new MethodTally('fp'), hybrid: new MethodTally('hybrid') };
  readonly fpLoss = new FpLossTally();
  readonly naming = new NamingTally();
  readonly paths = new Map(BENCH_PATHS.map((p) => [p, new PathTally(p)]));
  /** One warm snapshot's time (capture, walk, naming), ptrace rolling: what references compare with. */
  readonly snapshotNs: number[] = [];
  rounds = 0;

  get stops(): number {
    return [...this.paths.values()].reduce((n, p) => n + p.stops, 0);
  }
}

/** One warm snapshot's time (capture, walk, naming), ptrace rolling. */
async function timeSnapshot(pid: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  const c = await capture(pid, PATH_OPTIONS['ptrace-rolling']);
  const captureNs = Number(process.hrtime.bigint() - t0);
  return captureNs + buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked).cost.symbolizeNs;
}

/** The references, after one more snapshot right before them (their baseline, warm even after one round). */
async function compareReferences(pid: number, t: Tallies, hybridFrames: number | null): Promise<ReferenceResult[]> {
  const installed = installedReferences().installed;
  if (installed.length > 0) {
    try {
      t.snapshotNs.push(await timeSnapshot(pid));
    } catch {
      /* gone meanwhile: the references will say so */
    }
  }
  return runReferences(pid, { snapshotNs: distribution(t.snapshotNs).median, frames: hybridFrames });
}

/** Captures pid once along one path and adds what it cost (and, for ptrace rolling, both walks). */
async function capturePath(pid: number, path: BenchPath, t: Tallies): Promise<void> {
  const before = readAllCounters(pid, threadIds(pid));
  const t0 = process.hrtime.bigint();
  const c = await capture(pid, PATH_OPTIONS[path]);
  const captureNs = Number(process.hrtime.bigint() - t0);
  const after = readAllCounters(pid, [...before.keys()]);
  // Walked again: the capture's first walk loaded the unwind tables, so this walk is warm.
  const hybrid = buildSnapshot(c.raw, { ...c.opts, framePointersOnly: false }, c.started, c.origin);
  t.paths.get(path)!.add(hybrid, counterDeltas(before, after), captureNs);
  if (path !== 'ptrace-rolling') return;
  const fp = buildSnapshot(c.raw, { ...c.opts, framePointersOnly: true, symbolize: true }, c.started, c.origin);
  t.methods.hybrid.add(hybrid);
  t.methods.fp.add(fp);
  t.methods.hybrid.addKindWalks(walkPerKind(c, 'hybrid'));
  t.methods.fp.addKindWalks(walkPerKind(c, 'fp'));
  t.fpLoss.add(fp, hybrid);
  if (t.rounds === 0) t.naming.first(hybrid, c.walked.loadNs, diskCacheInUse());
  // Each cold measure parses every module file three times: the first rounds' median will do.
  if (t.rounds < COLD_ROUNDS) t.naming.coldWarm(measureColdWarm(c));
  // The first snapshot of a process parses its module files: warm figures start after it.
  t.naming.add(hybrid, t.rounds > 0);
  if (t.rounds > 0) t.snapshotNs.push(captureNs + hybrid.cost.symbolizeNs);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True when pid is gone (or a zombie): the run ends with what it has. */
function targetGone(pid: number, err: unknown): boolean {
  if (err instanceof StackshotError && (err.reason === 'no-such-process' || err.reason === 'zombie')) return true;
  return readComm(pid) === null;
}

async function runRounds(
  pid: number,
  o: ResolvedBenchOptions,
  t: Tallies,
  onRound: BenchmarkOptions['onRound'],
): Promise<BenchmarkReport['partial']> {
  const started = Date.now();
  while (t.rounds < o.count && (t.rounds === 0 || Date.now() - started < o.durationMs)) {
    for (const path of BENCH_PATHS) {
      try {
        await capturePath(pid, path, t);
      } catch (err) {
        if (t.rounds === 0 && path === BENCH_PATHS[0]) throw err; // nothing measured: an error as elsewhere
        const gone = targetGone(pid, err);
        const message = gone
          ? `the target exited during round ${t.rounds + 1} of ${o.count}: the figures cover the ${t.rounds} round${t.rounds === 1 ? '' : 's'} done`
          : `a capture failed during round ${t.rounds + 1} (${(err as Error).message}): the figures cover the rounds done`;
        return { reason: gone ? 'target-exited' : 'capture-failed', message };
      }
      await sleep(GAP_MS);
    }
    t.rounds++;
    onRound?.(t.rounds);
  }
  return undefined;
}

/**
 * Measures what taking stacks of pid costs: per unwinding method, per capture path (the pause
 * stackshot measured and the kernel's own accounting), naming cold and warm, and with
 * `compare` the same process through eu-stack, gdb and perf. Bounded by `count` rounds and
 * `durationMs`; `onPlan` hears how many stops it will cause before the first one.
 */
export async function benchmark(pid: number, options?: BenchmarkOptions): Promise<BenchmarkReport> {
  const o = resolveBenchOptions(options);
  const target = checkTarget(pid);
  const startedAt = new Date().toISOString();
  const t0 = Date.now();
  const command = readComm(target) ?? '';
  const threads = threadIds(target).length;
  const plan = makePlan(o, { pid: target, command, threads }, o.compare ? installedReferences().installed : []);
  options?.onPlan?.(plan);

  const t = new Tallies();
  const partial = await runRounds(target, o, t, options?.onRound);
  const methods = [t.methods.fp.result(), t.methods.hybrid.result()];
  const report: BenchmarkReport = {
    version: BENCHMARK_VERSION,
    pid: target,
    command,
    startedAt,
    plan,
    rounds: t.rounds,
    elapsedMs: 0,
    stops: t.stops,
    ...(partial === undefined ? {} : { partial }),
    methods,
    fpLoss: t.fpLoss.result(),
    paths: [...t.paths.values()].map((p) => p.result()),
    naming: t.naming.result(),
    verdict: '',
  };
  if (o.compare) {
    report.references =
      partial?.reason === 'target-exited'
        ? skippedReferences('the target exited before the references ran')
        : await compareReferences(target, t, methods[1]!.frames.median);
  }
  report.elapsedMs = Date.now() - t0;
  report.verdict = verdict(report);
  return report;
}
