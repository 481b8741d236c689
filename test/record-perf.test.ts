// record() on perf events: running threads sampled by the kernel (never stopped), new threads
// followed, blocked threads still in the profile, and a recorder killed with SIGKILL leaves the
// target running, untraced, with no perf event left (the events die with the recorder).
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { record, toSpeedscope, type Snapshot } from '../src/index';
import { PcNameCache } from '../src/symbolize/pc-name-cache';
import type { NamedPc, PcToName } from '../src/symbolize/symbolizer';
import { EXPECTED_STACKS, expectedWorkerStack, matchFrames } from './helpers/fixtures';
import { assertDetached, findThreadByName, isAlive, threadIds } from './helpers/proc';
import { startFixture, startNode, stopAllTargets } from './helpers/target';

const ROOT = path.join(__dirname, '..');

afterEach(async () => {
  await stopAllTargets();
});

beforeAll(() => {
  // The SIGKILL test runs the built package in a child process: build dist when it is stale.
  const mine = ['record.ts', 'record-perf.ts', 'snapshot.ts', 'addon.ts'];
  const stale = mine.some((f) => {
    const js = path.join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
    return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(ROOT, 'src', f)).mtimeMs;
  });
  // (scripts/build-asan.sh copies a dist/ it built; tsc under the ASan runtime would crawl.)
  if (stale && process.env.STACKSHOT_ASAN_BUILD !== '1')
    spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
}, 120_000);

/** Why this process cannot open perf events on pid ('' when it can). */
function perfRefusal(pid: number): string {
  try {
    binding.openPerfRecorder(pid, { periodNs: 10_000_000, stackBytes: 4096 }).close();
    return '';
  } catch (e) {
    return (e as { code?: string }).code ?? 'error';
  }
}

/**
 * Time the hypervisor stole from every CPU so far, ms (/proc/stat's steal column, USER_HZ ticks):
 * the run time a perf task-clock counts includes it, a thread's schedstat does not
 * (CONFIG_PARAVIRT_TIME_ACCOUNTING), so a loaded VM's samples weigh more than schedstat's run time.
 */
function stolenMs(): number {
  const cpu = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  return (Number(cpu[8] ?? 0) * 1000) / 100;
}

function runTimeNs(pid: number, tid: number): number {
  return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
}

/** perf event fds a process holds (links to anon_inode:[perf_event] in /proc/<pid>/fd). */
function perfFds(pid: number): number {
  let n = 0;
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[perf_event]') n++;
    } catch {
      /* closed meanwhile */
    }
  }
  return n;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('record on perf events', () => {
  it('running threads come from perf samples (no stop), blocked ones from snapshots; stacks as expected', async (ctx) => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper']);
    const refused = perfRefusal(t.pid);
    if (refused !== '') ctx.skip(`perf events refused to this process here (${refused})`);
    const spin = findThreadByName(t.pid, 'spin');
    const cpu0 = runTimeNs(t.pid, spin);
    const rec = record(t.pid, { hz: 99, durationMs: 1000, state: 'all' });
    const shots: Snapshot[] = [];
    for await (const s of rec) shots.push(s);
    const cpuS = (runTimeNs(t.pid, spin) - cpu0) / 1e9;
    expect(rec.stats.onCpu).toBe('perf');
    const spinSamples = shots.flatMap((s) => s.threads.filter((th) => th.tid === spin));
    // One sample per 1/99 s of the spinner's CPU time (a busy machine gives it less than a CPU).
    expect(spinSamples.length, `${cpuS.toFixed(2)} s on a CPU`).toBeGreaterThanOrEqual(
      Math.max(1, Math.floor(0.85 * cpuS * 99) - 2),
    );
    for (const th of spinSamples) {
      expect(th.capture).toBe('perf');
      expect(th.pauseNs).toBe(0);
      expect(th.state).toBe('R');
      expect(
        matchFrames(
          th.frames.map((f) => f.symbol ?? '??'),
          EXPECTED_STACKS.spin,
        ),
        `sample of spin`,
      ).toBeNull();
    }
    // The sleeper sits in one long nanosleep: read without a stop each time (its caller's %rbp
    // comes from the caller's prologue), with the stack it has.
    const sleeper = shots.flatMap((s) => s.threads.filter((th) => th.name === 'sleeper' && th.capture !== 'perf'));
    expect(sleeper.length).toBeGreaterThan(10);
    for (const th of sleeper) {
      expect(th).toMatchObject({ capture: 'blocked', pauseNs: 0 });
      expect(
        matchFrames(
          th.frames.map((f) => f.symbol ?? '??'),
          EXPECTED_STACKS.sleeper,
        ),
      ).toBeNull();
    }
    // Every snapshot names each blocked thread once; a running one once per perf sample.
    for (const s of shots) {
      const blocked = s.threads.filter((th) => th.capture !== 'perf');
      expect(new Set(blocked.map((th) => th.tid)).size).toBe(blocked.length);
    }
    expect(rec.stats.perfSamples).toBe(shots.flatMap((s) => s.threads.filter((th) => th.capture === 'perf')).length);
    assertDetached(t.pid);
  }, 30_000);

  it('a thread deeper than the first samples copy: its event grows, and every sample it gives is whole', async (ctx) => {
    const depth = 1500; // recurse() frames of 16 to 32 bytes: more than the first 16 KiB, less than 64
    const t = await startFixture('threads', 'fp', ['--workers', '1', '--depth', String(depth)]);
    const refused = perfRefusal(t.pid);
    if (refused !== '') ctx.skip(`perf events refused to this process here (${refused})`);
    const worker = findThreadByName(t.pid, 'worker-0');
    const rec = record(t.pid, { hz: 199, durationMs: 1500, state: 'running', maxFrames: depth + 100 });
    const samples = [];
    for await (const s of rec) samples.push(...s.threads.filter((th) => th.tid === worker));
    expect(samples.length).toBeGreaterThan(10);
    for (const th of samples) {
      expect(th.capture).toBe('perf');
      expect(th.stackBytes).toBeGreaterThan(16 * 1024);
      expect(th.complete, th.end).toBe(true);
      expect(
        matchFrames(
          th.frames.map((f) => f.symbol ?? '??'),
          expectedWorkerStack(depth),
        ),
      ).toBeNull();
    }
    assertDetached(t.pid);
  }, 30_000);

  it('samples lost to a slow consumer: the weights still add up to the run time the kernel counted', async (ctx) => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin']);
    const refused = perfRefusal(t.pid);
    if (refused !== '') ctx.skip(`perf events refused to this process here (${refused})`);
    const spin = findThreadByName(t.pid, 'spin');
    const hz = 5000;
    const stolen0 = stolenMs();
    const cpu0 = runTimeNs(t.pid, spin);
    // A sample count, not a duration, ends it: however long the wait below takes on a loaded
    // machine, the samples it left behind are taken by the next slot.
    const rec = record(t.pid, { hz, maxSamples: 4 });
    const shots: Snapshot[] = [];
    let beforeLast = cpu0; // the spinner's run time when the snapshot before the last was yielded
    let atLast = cpu0;
    for await (const s of rec) {
      shots.push(s);
      beforeLast = atLast;
      atLast = runTimeNs(t.pid, spin);
      // A consumer that stops pulling for 1.2 s of the spinner's run time: 6,000 samples, more
      // than the recorder keeps (4,096), so samples are lost by construction.
      if (shots.length === 2)
        await waitFor('the spinner to run 1.2 s', () => runTimeNs(t.pid, spin) - atLast > 1.2e9, 30_000);
    }
    const cpu1 = runTimeNs(t.pid, spin);
    // Up to one tick (10 ms) of steal at each end counts in the ticks read, or not.
    const stolen = stolenMs() - stolen0 + 20;
    const st = rec.stats;
    const why = `stats ${JSON.stringify(st)}`;
    expect(st.onCpu, why).toBe('perf');
    expect(st.perfLost, why).toBeGreaterThan(1000);
    const samples = shots.flatMap((s) => s.threads.filter((th) => th.tid === spin && th.capture === 'perf'));
    expect(samples.every((th) => th.weightNs !== undefined && th.weightNs >= 1e9 / hz / 2)).toBe(true);
    // The weights add up to the run time of the samples taken: between the run time at the
    // snapshot before the last and at the end (samples after the last take are not in it).
    const weightMs = samples.reduce((a, th) => a + th.weightNs!, 0) / 1e6;
    const range = `spinner ran ${((beforeLast - cpu0) / 1e6).toFixed(0)}..${((cpu1 - cpu0) / 1e6).toFixed(0)} ms; weights ${weightMs.toFixed(0)} ms; ${samples.length} samples; steal ≤ ${stolen} ms; ${why}`;
    expect(weightMs, range).toBeGreaterThan((0.9 * (beforeLast - cpu0)) / 1e6);
    // Above it by the steal, and by what else the two clocks count apart: in full `npm test` runs
    // on the 2-vCPU VM the weights were 2.2 % and 3.0 % over schedstat's run time, twice in six.
    expect(weightMs, range).toBeLessThan((1.05 * (cpu1 - cpu0)) / 1e6 + stolen);
    // Samples / hz would be far short of it.
    expect((samples.length / hz) * 1000, range).toBeLessThan(0.8 * weightMs);
    // The formats carry the weights: speedscope's profile of the spinner adds up to them.
    const profile = toSpeedscope(shots, { intervalMs: 1000 / hz }).profiles.find((p) => p.name.startsWith('spin '))!;
    expect(profile.endValue).toBeCloseTo(weightMs, 3);
    assertDetached(t.pid);
  }, 60_000);

  it('follows threads born during the recording', async (ctx) => {
    // A node process that starts a spinning worker thread 300 ms after it says ready.
    const t = await startNode(
      `const { Worker } = require('worker_threads');
       console.log('ready');
       setTimeout(() => new Worker('for (;;) {}', { eval: true }), 300);
       setInterval(() => {}, 1000);`,
    );
    const refused = perfRefusal(t.pid);
    if (refused !== '') ctx.skip(`perf events refused to this process here (${refused})`);
    const before = new Set(threadIds(t.pid));
    const rec = record(t.pid, { hz: 99, durationMs: 1500, state: 'running' });
    const sampled = new Map<number, number>();
    for await (const s of rec) for (const th of s.threads) sampled.set(th.tid, (sampled.get(th.tid) ?? 0) + 1);
    const born = [...sampled].filter(([tid]) => !before.has(tid));
    expect(
      born.length,
      `sampled threads ${JSON.stringify([...sampled])}, before ${[...before].join(',')}`,
    ).toBeGreaterThan(0);
    expect(Math.max(...born.map(([, n]) => n))).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('a recorder killed with SIGKILL leaves the target running, untraced, with no perf event', async (ctx) => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper']);
    const refused = perfRefusal(t.pid);
    if (refused !== '') ctx.skip(`perf events refused to this process here (${refused})`);
    const spin = findThreadByName(t.pid, 'spin');
    const script = `const { record } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
      (async () => { let n = 0; for await (const _ of record(${t.pid}, { hz: 999, durationMs: 60000 })) if (++n === 20) console.log('recording'); })();`;
    const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('the recorder to record', () => out.includes('recording'), 20_000);
      expect(perfFds(child.pid!)).toBeGreaterThanOrEqual(2); // one per thread of the target
      child.kill('SIGKILL');
      await waitFor(
        'the recorder to die',
        () => !isAlive(child.pid!) || child.exitCode !== null || child.signalCode !== null,
      );
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    // Its fds (and with them the events) are gone: no /proc entry at all once reaped.
    await waitFor('the recorder to be reaped', () => !fs.existsSync(`/proc/${child.pid}/fdinfo`));
    // Untraced, nothing stopped; and the spinner still runs.
    assertDetached(t.pid, 1000);
    const ran = runTimeNs(t.pid, spin);
    await waitFor('the spinner to run on', () => runTimeNs(t.pid, spin) > ran);
    expect(t.running).toBe(true);
  }, 60_000);
});

describe('naming during a recording', () => {
  it('names each distinct pc once, again after the code mappings change, and JIT code every time', () => {
    const cache = new PcNameCache();
    const asked: bigint[] = [];
    const symbolize = (pcs: PcToName[]): NamedPc[] => {
      asked.push(...pcs.map((p) => p.pc));
      return pcs.map((p) => ({
        module: p.pc >= 0x9000n ? '[anon]' : '/usr/bin/x',
        moduleOffset: p.pc,
        symbol: `f${p.pc}`,
        symbolOffset: 0,
      }));
    };
    const maps = '1000-2000 r-xp 00000000 08:01 1 /usr/bin/x\n3000-4000 rw-p 00000000 00:00 0 [heap]\n';
    const pcs = (...v: bigint[]) => v.map((pc) => ({ pc, isReturnAddress: true }));
    expect(cache.name(maps, pcs(0x1100n, 0x1200n, 0x1100n), false, symbolize).map((n) => n.symbol)).toEqual([
      'f4352',
      'f4608',
      'f4352',
    ]);
    expect(asked).toEqual([0x1100n, 0x1200n]);
    cache.name(maps.replace('3000-4000', '3000-5000'), pcs(0x1100n), false, symbolize); // data mappings: no effect
    expect(asked).toHaveLength(2);
    cache.name(maps + '5000-6000 r-xp 00000000 08:01 2 /usr/lib/y.so\n', pcs(0x1100n), false, symbolize);
    expect(asked).toHaveLength(3); // a library mapped: named again
    cache.name(maps, pcs(0x9100n), false, symbolize);
    cache.name(maps, pcs(0x9100n), false, symbolize);
    expect(asked.filter((pc) => pc === 0x9100n)).toHaveLength(2); // JIT: every time
  });
});
