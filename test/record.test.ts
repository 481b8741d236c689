// record(): sampling at a rate, as an async iterator of Snapshots, and `stackshot record` as a real
// process (node dist/cli.js; `npm test` builds it). Targets are the C fixtures, started as
// grandchildren; nothing is left running afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  parseFolded,
  record,
  StackshotError,
  toFlameGraph,
  toFolded,
  toPprof,
  toSpeedscope,
  type Snapshot,
} from '../src/index';
import { decodePprof } from '../src/output/pprof';
import { findThreadByName, threadIds, threadStates } from './helpers/proc';
import { startFixture, startNode, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const HAVE_GO = have('go');
let tmp: string;

/**
 * The sampling-rate test measures the recorder, but on 2 vCPUs the fixture's spin thread holds one
 * CPU and a test file running in parallel may hold the other. Like a profiler deployed next to a
 * busy service, the sampler runs at a higher priority: renice every thread of this worker (the
 * libuv pool threads too, so the native tracer thread they start inherits it). Needs root or
 * CAP_SYS_NICE; without it the test runs at the normal priority.
 */
function raiseOwnPriority(): void {
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      os.setPriority(Number(tid), -10);
    } catch {
      return; // not allowed: leave it
    }
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-record-'));
  raiseOwnPriority();
});
afterEach(async () => {
  await stopAllTargets();
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Thread samples per tid (threads that have frames). */
function samplesPerThread(shots: Snapshot[]): Map<number, { name: string; n: number }> {
  const m = new Map<number, { name: string; n: number }>();
  for (const s of shots) {
    for (const t of s.threads) {
      if (t.frames.length === 0) continue;
      const e = m.get(t.tid) ?? { name: t.name, n: 0 };
      e.n++;
      m.set(t.tid, e);
    }
  }
  return m;
}

/** A thread's total time on a CPU so far (the kernel's schedstat), in ns. */
function runTimeNs(pid: number, tid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

function leafCounts(folded: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const { frames, count } of parseFolded(folded)) m.set(frames.at(-1)!, (m.get(frames.at(-1)!) ?? 0) + count);
  return m;
}

/** Scheduler states of every thread: none may be left stopped (t or T) by the tracer. */
function expectNotStopped(pid: number): void {
  const states = threadStates(pid);
  expect(states.size).toBeGreaterThan(0);
  for (const [tid, st] of states) expect(`${tid}:${st}`).not.toMatch(/:[tT]$/);
}

describe('record()', () => {
  // The schedule on absolute deadlines, and what each thread's samples hold; retried: a loaded
  // machine can stretch the last capture past the end.
  it(
    'samples the threads fixture at 99 Hz for 3 s on absolute deadlines; folded counts add up; spin_leaf dominates',
    { timeout: 30_000, retry: 2 },
    async () => {
      const t = await startFixture('threads', 'fp', ['--only', 'spin']);
      const spinTid = findThreadByName(t.pid, 'spin');
      const cpuBefore = runTimeNs(t.pid, spinTid);
      const rec = record(t.pid, { hz: 99, durationMs: 3000, state: 'all' });
      const shots: Snapshot[] = [];
      for await (const s of rec) shots.push(s);
      const spinCpuS = (runTimeNs(t.pid, spinTid) - cpuBefore) / 1e9;
      const st = rec.stats;
      const why = `stats ${JSON.stringify(st)}`;
      expect(st.end, why).toBe('duration');
      expect(st.samples, why).toBe(shots.length);
      // 3 s at 99 Hz: 297 slots; each is either sampled or counted as dropped.
      expect(st.samples + st.dropped, why).toBeGreaterThanOrEqual(296);
      expect(st.samples + st.dropped, why).toBeLessThanOrEqual(298);
      // No drift: the last deadline is 2.99 s after the first, whatever the captures cost.
      expect(st.elapsedMs, why).toBeGreaterThan(2950);
      expect(st.elapsedMs, why).toBeLessThan(3300);

      const per = samplesPerThread(shots);
      expect([...per.values()].map((e) => e.name).sort()).toEqual(['spin', 'threads']);
      for (const [tid, e] of per) {
        if (tid === spinTid && st.onCpu === 'perf') {
          // Sampled by perf events: once per 1/99 s of its own CPU time, as perf record samples (a
          // busy machine that gives the spinner half a CPU halves its samples).
          const due = spinCpuS * 99;
          expect(e.n, `spin: ${spinCpuS.toFixed(2)} s on a CPU, ${why}`).toBeGreaterThanOrEqual(
            Math.floor(0.85 * due) - 2,
          );
          expect(e.n, `spin: ${spinCpuS.toFixed(2)} s on a CPU, ${why}`).toBeLessThanOrEqual(Math.ceil(1.05 * due) + 2);
          continue;
        }
        // In every snapshot. How many snapshots a loaded machine leaves room for is a timing
        // question for `npm run bench`; that every slot is taken or counted dropped is checked above.
        expect(e.n, `thread ${tid} (${e.name}): ${why}`).toBe(st.samples);
      }
      const threadSamples = [...per.values()].reduce((a, e) => a + e.n, 0);

      const folded = toFolded(shots);
      const lines = parseFolded(folded);
      expect(lines.reduce((a, l) => a + l.count, 0)).toBe(threadSamples);
      for (const l of lines) for (const f of l.frames) expect(f).not.toMatch(/[;\n]/);

      // The spin thread: spin_leaf is the leaf of (nearly) every sample.
      const byThread = parseFolded(toFolded(shots, { threadRoot: 'name' }));
      const spin = byThread.filter((l) => l.frames[0] === 'spin');
      const spinTotal = spin.reduce((a, l) => a + l.count, 0);
      expect(spinTotal).toBe(per.get([...per].find(([, e]) => e.name === 'spin')![0])!.n);
      const spinLeaf = spin.filter((l) => l.frames.at(-1) === 'spin_leaf').reduce((a, l) => a + l.count, 0);
      expect(spinLeaf / spinTotal).toBeGreaterThan(0.9);
      // On-CPU only: spin_leaf is the hot function of the whole process.
      const onCpu = leafCounts(toFolded(shots, { state: 'running' }));
      const hottest = [...onCpu].sort((a, b) => b[1] - a[1])[0]!;
      expect(hottest[0]).toBe('spin_leaf');
      expect(hottest[1] / [...onCpu.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(0.9);
      // Off-CPU only: the main thread waiting in sigsuspend, never spin_leaf.
      const offCpu = leafCounts(toFolded(shots, { state: 'blocked' }));
      expect(offCpu.get('spin_leaf') ?? 0).toBeLessThan(0.05 * spinTotal);
      expect([...offCpu.keys()].some((k) => /sigsuspend/.test(k))).toBe(true);
      expectNotStopped(t.pid);
    },
  );

  it('state filter: running keeps only threads in state R in every snapshot', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper']);
    const shots: Snapshot[] = [];
    for await (const s of record(t.pid, { hz: 99, durationMs: 500, state: 'running' })) shots.push(s);
    expect(shots.length).toBeGreaterThan(10);
    for (const s of shots) for (const th of s.threads) expect(th.state).toBe('R');
    const names = new Set(shots.flatMap((s) => s.threads.map((th) => th.name)));
    expect(names.has('spin')).toBe(true);
    expect(names.has('sleeper')).toBe(false);
  }, 20_000);

  it(
    'a recording that falls behind its rate still weighs each thread its wall time, the same in every format',
    { timeout: 60_000 },
    async () => {
      const t = await startFixture('threads', 'fp');
      // 10 kHz with every thread stopped by ptrace in each snapshot: more than the captures can
      // keep up with, so slots are dropped and the snapshots come at irregular, wider intervals.
      const rec = record(t.pid, { hz: 10_000, durationMs: 2000, state: 'all', capture: 'ptrace' });
      const shots: Snapshot[] = [];
      const started = process.hrtime.bigint();
      for await (const s of rec) shots.push(s);
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const st = rec.stats;
      const why = `stats ${JSON.stringify(st)}, wall ${wallMs.toFixed(0)} ms`;
      expect(st.dropped, why).toBeGreaterThan(0);
      const threads = samplesPerThread(shots).size;
      expect(threads, why).toBe(8);

      // pprof: the wall values add up to the wall time × the sampled threads (not samples / hz).
      const file = path.join(tmp, 'behind.pb.gz');
      fs.writeFileSync(file, toPprof(shots, { intervalMs: 0.1 }));
      const p = decodePprof(fs.readFileSync(file));
      const totalMs = p.sample.reduce((a, s) => a + Number(s.value[1]), 0) / 1e6;
      expect(totalMs / (wallMs * threads), `pprof total ${totalMs} ms, ${why}`).toBeGreaterThan(0.9);
      expect(totalMs / (wallMs * threads), `pprof total ${totalMs} ms, ${why}`).toBeLessThan(1.1);
      if (HAVE_GO) {
        const r = spawnSync('go', ['tool', 'pprof', '-top', file], {
          encoding: 'utf8',
          env: { ...process.env, PPROF_TMPDIR: tmp, HOME: tmp },
        });
        expect(r.status, r.stderr).toBe(0);
        const m = /of ([\d.]+)(ms|s|min) total/.exec(r.stdout);
        expect(m, r.stdout).not.toBeNull();
        const goMs = Number(m![1]) * { ms: 1, s: 1000, min: 60_000 }[m![2] as 'ms' | 's' | 'min'];
        expect(Math.abs(goMs - totalMs) / totalMs, r.stdout.slice(0, 400)).toBeLessThan(0.01);
      }
      // The same samples, and the same time, in every format and in the stats.
      expect(p.sample.length).toBe(st.threadSamples);
      expect(parseFolded(toFolded(shots)).reduce((a, l) => a + l.count, 0)).toBe(st.threadSamples);
      const ss = toSpeedscope(shots, { intervalMs: 0.1 });
      expect(ss.profiles.reduce((a, pr) => a + pr.samples.length, 0)).toBe(st.threadSamples);
      expect(ss.profiles.reduce((a, pr) => a + pr.endValue, 0)).toBeCloseTo(totalMs, 3);
      const svg = toFlameGraph(shots, { intervalMs: 0.1 });
      expect(Number(/data-total="([\d.e+-]+)"/.exec(svg)![1])).toBeCloseTo(totalMs, 3);
      expect(svg).toContain(`${st.threadSamples.toLocaleString('en-US')} samples (`);
      expectNotStopped(t.pid);
    },
  );

  it('on-CPU by ptrace: threads not running are never captured, let alone stopped', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper']);
    const shots: Snapshot[] = [];
    for await (const s of record(t.pid, { hz: 99, maxSamples: 30, capture: 'ptrace' })) shots.push(s);
    const names = new Set(shots.flatMap((s) => s.threads.map((th) => th.name)));
    expect(names.has('spin')).toBe(true);
    for (const s of shots) {
      for (const th of s.threads) expect(th.state).toBe('R');
      // What was copied is the kept threads' stacks: nothing of a blocked thread was read.
      expect(s.cost.bytesCopied).toBe(s.threads.reduce((a, th) => a + th.stackBytes, 0));
    }
    expectNotStopped(t.pid);
  }, 30_000);

  it('stop(), an AbortSignal and maxSamples end the recording early', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'sleeper']);
    // Stopped from a timer, as another part of a program would, once 10 snapshots are in: the
    // recording ends after at most the capture in progress, whatever the machine's load.
    const rec = record(t.pid, { hz: 200 });
    let n = 0;
    for await (const _ of rec) if (++n === 10) setTimeout(() => rec.stop(), 0);
    expect(rec.stats.end).toBe('stopped');
    expect(n).toBeGreaterThanOrEqual(10);
    expect(n).toBeLessThanOrEqual(11);

    const ac = new AbortController();
    const rec2 = record(t.pid, { hz: 200, signal: ac.signal });
    let m = 0;
    for await (const _ of rec2) if (++m === 5) setTimeout(() => ac.abort(), 0);
    expect(rec2.stats.end).toBe('stopped');
    expect(m).toBeGreaterThanOrEqual(5);
    expect(m).toBeLessThanOrEqual(6);

    const rec3 = record(t.pid, { hz: 500, maxSamples: 7 });
    let k = 0;
    for await (const _ of rec3) k++;
    expect(k).toBe(7);
    expect(rec3.stats.end).toBe('max-samples');

    // Breaking out of the loop is fine too, and leaves the target running.
    for await (const _ of record(t.pid, { hz: 100 })) break;
    expectNotStopped(t.pid);
  }, 20_000);

  it('the target exiting ends the recording cleanly with what was collected', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin']);
    const rec = record(t.pid, { hz: 99, durationMs: 20_000 });
    const shots: Snapshot[] = [];
    // The target is stopped once 20 snapshots are in (not after a time a loaded machine stretches).
    for await (const s of rec) if (shots.push(s) === 20) void t.stop();
    expect(rec.stats.end).toBe('target-exited');
    expect(shots.length).toBeGreaterThanOrEqual(20);
    expect(parseFolded(toFolded(shots)).length).toBeGreaterThan(0);
  }, 20_000);

  it('fails before the first sample: no such process, bad options', async () => {
    const run = async (pid: number, o = {}) => {
      for await (const _ of record(pid, o)) break;
    };
    const err = await run(2 ** 22 + 12345).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StackshotError);
    expect((err as StackshotError).code).toBe('ESRCH');
    expect(() => record(1, { hz: 0 })).toThrow(RangeError);
    expect(() => record(1, { hz: 20_000 })).toThrow(/hz/);
    expect(() => record(1, { durationMs: -1 })).toThrow(/durationMs/);
    expect(() => record(1, { state: 'sleeping' as never })).toThrow(/state/);
  });
});

// ---------------------------------------------------------------------------------------------
// The CLI

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function startCli(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [CLI, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: tmp,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const done = new Promise<Run>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
const HAVE_SCRIPT = have('script');

describe('stackshot record', () => {
  it('Ctrl-C (SIGINT) stops the recording and still writes a valid file; the target keeps running', async () => {
    const t = await startFixture('threads', 'fp');
    const out = path.join(tmp, 'sigint.speedscope.json');
    const { child, done } = startCli(['record', String(t.pid), '--duration', '60s', '--state', 'all', '-o', out]);
    await sleep(1500);
    expect(child.exitCode).toBeNull();
    child.kill('SIGINT');
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^stackshot: interrupted: \d+ samples of 8 threads from \d+ snapshots \(\d+ dropped\) in [\d.]+ s, [\d.]+ Hz achieved; wrote .*sigint\.speedscope\.json \(speedscope\)\n$/,
    );
    expect(r.stderr).not.toMatch(/\x1b\[/); // stderr is a pipe: no progress bar
    const file = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(file.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    expect(file.profiles.length).toBe(8);
    // What matters is a complete file with every thread; how many samples 1.5 s gives depends on the machine's load.
    for (const p of file.profiles) expect(p.samples.length).toBeGreaterThanOrEqual(3);
    // The summary counts the samples the file holds.
    const inFile = (file.profiles as { samples: unknown[] }[]).reduce((a, p) => a + p.samples.length, 0);
    expect(Number(/: (\d+) samples of/.exec(r.stderr)![1])).toBe(inFile);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(t.running).toBe(true);
    expectNotStopped(t.pid);
  }, 30_000);

  it('the target exiting ends the recording: exit 0 and complete output', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin']);
    // JSON lines to stdout: the first line says the recording has its first sample (a target
    // gone before that is an error, not an end), whenever a loaded machine gets there.
    const { child, done } = startCli([
      'record',
      String(t.pid),
      '--duration',
      '60s',
      '--state',
      'all',
      '--format',
      'json',
    ]);
    let first = false;
    child.stdout!.on('data', (s: string) => (first ||= s.includes('\n')));
    await waitFor('the first snapshot', () => first || child.exitCode !== null, 30_000);
    await t.stop();
    const r = await done;
    expect(r.code, r.stderr).toBe(0);
    const reported = /^stackshot: the target exited: (\d+) samples/.exec(r.stderr);
    expect(reported, r.stderr).not.toBeNull();
    // Every line is a whole snapshot; the summary counts the thread samples they hold.
    const shots = r.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Snapshot);
    const threadSamples = shots.reduce((a, s) => a + s.threads.filter((th) => th.frames.length > 0).length, 0);
    expect(Number(reported![1])).toBeGreaterThan(0);
    expect(threadSamples).toBe(Number(reported![1]));
  }, 45_000);

  it('on-CPU by default: a busy node process with idle threads; its busy path is >= 80 % of the flame graph', async () => {
    const t = await startNode(
      `function burn() { let x = 0; for (;;) { x += Math.sqrt(x + 1); if (x > 1e12) x = 0; } }
       console.log('ready');
       setTimeout(burn, 10);`,
    );
    expect(threadIds(t.pid).length).toBeGreaterThanOrEqual(4); // V8's and libuv's idle threads
    /** The share of the flame graph under frames of the busy JS function (it never nests). */
    const busyShare = (svg: string): number => {
      const total = Number(/data-total="([\d.e+-]+)"/.exec(svg)![1]);
      let busy = 0;
      for (const m of svg.matchAll(/<g class="f" data-x="[^"]*" data-w="([^"]*)" data-d="\d+" data-n="[^"]*\bburn"/g))
        busy += Number(m[1]);
      return busy / total;
    };
    const out = path.join(tmp, 'busy.svg');
    const r = await startCli(['record', String(t.pid), '--duration', '3s', '-o', out]).done;
    expect(r.code, r.stderr).toBe(0);
    const onCpu = busyShare(fs.readFileSync(out, 'utf8'));
    expect(onCpu, r.stderr).toBeGreaterThanOrEqual(0.8);
    // What the default spares us: with the idle threads, the busy path is a small part.
    const all = path.join(tmp, 'busy-all.svg');
    const ra = await startCli(['record', String(t.pid), '--duration', '1s', '--state', 'all', '-o', all]).done;
    expect(ra.code, ra.stderr).toBe(0);
    expect(busyShare(fs.readFileSync(all, 'utf8')), ra.stderr).toBeLessThan(0.5);
  }, 40_000);

  it('--format json writes one snapshot per line; by default only on-CPU threads', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper']);
    const out = path.join(tmp, 'shots.out');
    const r = await startCli([
      'record',
      String(t.pid),
      '--duration',
      '500ms',
      '--hz',
      '50',
      '--format',
      'json',
      '-o',
      out,
    ]).done;
    expect(r.code, r.stderr).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').trimEnd().split('\n');
    // Never more than the rate allows (50 Hz × 0.5 s, plus the first sample and slack); how
    // many fewer depends on the machine's load.
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(26);
    const names = new Set<string>();
    for (const l of lines) {
      const s = JSON.parse(l) as Snapshot;
      expect(s.pid).toBe(t.pid);
      for (const th of s.threads) expect(th.state).toBe('R');
      for (const th of s.threads) names.add(th.name);
    }
    expect(names.has('spin')).toBe(true);
  }, 20_000);

  it.skipIf(!HAVE_SCRIPT)(
    'a progress bar on a terminal: elapsed, samples, dropped, achieved rate (skipped without script(1))',
    async () => {
      const t = await startFixture('threads', 'fp', ['--only', 'spin']);
      const out = path.join(tmp, 'tty.svg');
      // script(1) runs the CLI on a pseudo-terminal and copies what it draws to our pipe.
      const cmd = [process.execPath, CLI, 'record', String(t.pid), '--duration', '1s', '-o', out]
        .map((a) => `'${a}'`)
        .join(' ');
      const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['ignore', 'pipe', 'pipe'], cwd: tmp });
      let screen = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => (screen += d));
      const code = await new Promise<number | null>((r) => child.once('close', r));
      expect(code, screen).toBe(0);
      const frames = screen.split(/\r|\x1b\[1G/).filter((l) => l.startsWith('recording pid'));
      expect(frames.length, screen).toBeGreaterThan(3);
      expect(frames.at(-1)).toMatch(
        new RegExp(`^recording pid ${t.pid} \\[=+\\] 1\\.0/1\\.0 s \\| \\d+ samples \\| \\d+ dropped \\| [\\d.]+ Hz`),
      );
      expect(screen).toMatch(/stackshot: done: \d+ samples/);
      expect(fs.readFileSync(out, 'utf8')).toContain('data-n="spin_leaf"');
    },
    20_000,
  );

  it('folded to stdout by default; usage errors for unknown extensions and bad values', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin']);
    const r = await startCli(['record', String(t.pid), '--duration', '300ms', '--thread-root']).done;
    expect(r.code, r.stderr).toBe(0);
    const folded = parseFolded(r.stdout);
    expect(folded.some((l) => l.frames[0] === 'spin' && l.frames.at(-1) === 'spin_leaf')).toBe(true);

    const bad = await startCli(['record', String(t.pid), '-o', path.join(tmp, 'x.unknown')]).done;
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^stackshot: cannot tell the format from the file name "x\.unknown"; pass --format/);
    const badHz = await startCli(['record', String(t.pid), '--hz', 'fast']).done;
    expect(badHz.code).toBe(2);
    const badDur = await startCli(['record', String(t.pid), '--duration', 'soon']).done;
    expect(badDur.code).toBe(2);
    const gone = await startCli(['record', String(2 ** 22 + 12345), '-o', path.join(tmp, 'gone.svg')]).done;
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\[ESRCH\]/);
    expect(fs.existsSync(path.join(tmp, 'gone.svg'))).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  }, 30_000);
});
