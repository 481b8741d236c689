// Running threads captured by a perf-event sample instead of a ptrace stop: the same stack as
// the ptrace path, no stop, and every fallback to ptrace (perf refused to the caller, a stack
// deeper than one sample copies, the consistent schedule) complete and saying so in `capture`.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { doctor, type DoctorCheck } from '../src/doctor';
import { snapshot, snapshotSync, type Snapshot, type ThreadStack } from '../src/index';
import { compileFixture, EXPECTED_STACKS, expectedWorkerStack, FRAME_VARIANTS, matchFrames } from './helpers/fixtures';
import { assertDetached, findThreadByName, statusField } from './helpers/proc';
import { startFixture, stopAllTargets, type Target } from './helpers/target';

const ROOT = path.join(__dirname, '..');

afterEach(async () => {
  await stopAllTargets();
});

beforeAll(() => {
  // The refusal test runs the built package in a child process: build dist when it is stale.
  const mine = ['snapshot.ts', 'capture/stop-fallback.ts', 'options.ts', 'addon.ts', 'doctor.ts', 'doctor-perf.ts'];
  const stale = mine.some((f) => {
    const js = path.join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
    return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(ROOT, 'src', f)).mtimeMs;
  });
  // (scripts/build-asan.sh copies a dist/ it built; tsc under the ASan runtime would crawl.)
  if (stale && process.env.STACKSHOT_ASAN_BUILD !== '1')
    spawnSync(process.execPath, ['scripts/build-ts.js'], { cwd: ROOT, stdio: 'ignore' });
}, 120_000);

const names = (t: ThreadStack): string[] => t.frames.map((f) => f.symbol ?? '??');

function thread(shot: Snapshot, tid: number): ThreadStack {
  const t = shot.threads.find((x) => x.tid === tid);
  if (!t) throw new Error(`thread ${tid} missing from the snapshot`);
  return t;
}

/** Why perf events cannot be used by this process ('' when they can), asked of the addon itself. */
function perfRefusal(pid: number): string {
  const raw = binding.captureSync(pid, { tids: [], consistent: false, stackBytes: 512 * 1024, stopTimeoutMs: 1000 });
  return raw.perfRefused;
}

/**
 * A thread's voluntary context switches: it left the CPU in a state other than runnable (a
 * ptrace stop is one). A spinner has none of its own; preemption by a busy machine counts as
 * nonvoluntary, not here.
 */
function switches(pid: number, tid: number): number {
  return Number(statusField(pid, 'voluntary_ctxt_switches', tid));
}

async function spinner(variant: (typeof FRAME_VARIANTS)[number]): Promise<{ target: Target; tid: number }> {
  const target = await startFixture('threads', variant, ['--only', 'spin,sleeper']);
  return { target, tid: findThreadByName(target.pid, 'spin') };
}

/**
 * A snapshot in which thread tid was taken by its perf sample. On a loaded machine the spinner may
 * not run before its sample is due; it is then stopped instead ('no-sample'), which is right, but
 * not what these tests are about: take another (a bounded number of times).
 */
async function sampled(tid: number, take: () => Promise<Snapshot>): Promise<Snapshot> {
  for (let i = 0; ; i++) {
    const shot = await take();
    const t = thread(shot, tid);
    if (t.capture === 'perf' || i === 19) return shot;
    expect(t.captureFallback).toBe('no-sample');
  }
}

describe('a running thread sampled by a perf event', () => {
  for (const variant of FRAME_VARIANTS) {
    it(`has the ptrace path's stack, was not stopped and says capture: perf (${variant})`, async (ctx) => {
      const { target, tid } = await spinner(variant);
      const refused = perfRefusal(target.pid);
      if (refused !== '') ctx.skip(`perf_event_open refused to this process here (${refused})`);
      const viaPtrace = thread(await snapshot(target.pid, { capture: 'ptrace' }), tid);
      expect(viaPtrace.capture).toBe('ptrace');
      expect(viaPtrace.pauseNs).toBeGreaterThan(0);
      // A blocked thread never ticks its task clock: with 'auto' the blocked path reads it (or
      // ptrace, where its walk needs %rbp); a forced perf capture stops it, as before.
      const shots: [Snapshot, string[]][] = [
        [await sampled(tid, () => snapshot(target.pid)), ['blocked', 'ptrace']],
        [await sampled(tid, async () => snapshotSync(target.pid, { capture: 'perf' })), ['ptrace']],
      ];
      for (const [shot, sleeperPaths] of shots) {
        const spin = thread(shot, tid);
        expect(spin.capture).toBe('perf');
        expect(spin.pauseNs).toBe(0);
        expect(matchFrames(names(spin), EXPECTED_STACKS.spin)).toBeNull();
        expect(names(spin)).toEqual(names(viaPtrace)); // the same chain; the pcs differ, it runs
        expect(spin.complete).toBe(true);
        expect(spin.frames[0].method).toBe('regs');
        const sleeper = thread(shot, findThreadByName(target.pid, 'sleeper'));
        expect(sleeperPaths).toContain(sleeper.capture);
        expect(matchFrames(names(sleeper), EXPECTED_STACKS.sleeper)).toBeNull();
      }
      assertDetached(target.pid);
    });
  }

  it('leaves the running thread untouched: no stop (no voluntary context switch), where ptrace makes one each', async (ctx) => {
    const { target, tid } = await spinner('fp');
    if (perfRefusal(target.pid) !== '') ctx.skip('perf_event_open refused to this process here');
    const N = 30;
    const before = switches(target.pid, tid);
    for (let i = 0; i < N; i++) expect(thread(snapshotSync(target.pid, { threads: [tid] }), tid).capture).toBe('perf');
    const perfSwitches = switches(target.pid, tid) - before;
    const mid = switches(target.pid, tid);
    for (let i = 0; i < N; i++)
      expect(thread(snapshotSync(target.pid, { threads: [tid], capture: 'ptrace' }), tid).capture).toBe('ptrace');
    const ptraceSwitches = switches(target.pid, tid) - mid;
    expect(ptraceSwitches).toBeGreaterThanOrEqual(N);
    expect(perfSwitches).toBe(0);
    assertDetached(target.pid);
  });

  it('the consistent schedule stops every thread together (one cut): capture: ptrace', async () => {
    const { target, tid } = await spinner('fp');
    const spin = thread(await snapshot(target.pid, { schedule: 'consistent' }), tid);
    expect(spin.capture).toBe('ptrace');
    expect(spin.pauseNs).toBeGreaterThan(0);
    expect(matchFrames(names(spin), EXPECTED_STACKS.spin)).toBeNull();
  });
});

describe('fallbacks to ptrace', () => {
  it('perf_event_open refused to the capturing process (seccomp): ptrace, complete, same stack', async () => {
    const denyPerf = compileFixture('deny_perf', 'fp');
    const { target, tid } = await spinner('nofp');
    const script = `require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))}).snapshot(${target.pid}, { capture: 'perf' })
      .then((s) => process.stdout.write(JSON.stringify(s)), (e) => { console.error(e); process.exit(1); })`;
    const shot = JSON.parse(
      execFileSync(denyPerf, [process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 }),
    ) as Snapshot;
    const spin = thread(shot, tid);
    expect(spin.capture).toBe('ptrace');
    expect(spin.pauseNs).toBeGreaterThan(0);
    expect(spin.complete).toBe(true);
    expect(matchFrames(names(spin), EXPECTED_STACKS.spin)).toBeNull();
    assertDetached(target.pid);
  });

  it('a running stack deeper than one perf sample copies: captured again with ptrace, complete', async (ctx) => {
    const depth = 8000; // recurse() frames of 16+ bytes: > 64 KiB
    const target = await startFixture('threads', 'fp', ['--workers', '1', '--depth', String(depth)]);
    const tid = findThreadByName(target.pid, 'worker-0');
    // The sample itself is cut: the raw perf capture holds less than the stack.
    const raw = binding.captureSync(target.pid, {
      tids: [tid],
      consistent: false,
      stackBytes: 512 * 1024,
      stopTimeoutMs: 1000,
    });
    if (raw.perfRefused !== '') ctx.skip(`perf_event_open refused to this process here (${raw.perfRefused})`);
    const sampled = raw.threads[0];
    expect(sampled.capture).toBe('perf');
    expect(sampled.stackBytes).toBeLessThan(64 * 1024);
    for (const shot of [
      await snapshot(target.pid, { maxFrames: depth + 100 }),
      snapshotSync(target.pid, { maxFrames: depth + 100 }),
    ]) {
      const worker = thread(shot, tid);
      expect(worker.capture).toBe('ptrace');
      expect(worker.stackBytes).toBeGreaterThan(64 * 1024);
      expect(worker.end).toBe('thread-entry');
      expect(worker.complete).toBe(true);
      expect(matchFrames(names(worker), expectedWorkerStack(depth))).toBeNull();
    }
    assertDetached(target.pid);
  });
});

describe('doctor: perf events', () => {
  const check = (checks: DoctorCheck[]) => checks.find((c) => c.id === 'perf-events');

  it('agrees with what a capture found, for this process and a target', async () => {
    const { target } = await spinner('fp');
    const refused = perfRefusal(target.pid);
    const c = check(doctor(target.pid).checks);
    expect(c?.status).toBe(refused === '' ? 'ok' : 'warn');
    if (refused !== '') expect(c?.detail).toContain(refused);
  });

  it('under a seccomp filter refusing perf_event_open: a warning naming the filter and the fix', () => {
    const denyPerf = compileFixture('deny_perf', 'fp');
    const script = `process.stdout.write(JSON.stringify(require(${JSON.stringify(path.join(ROOT, 'dist', 'doctor.js'))}).doctor()))`;
    const report = JSON.parse(
      execFileSync(denyPerf, [process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 }),
    ) as {
      ok: boolean;
      checks: DoctorCheck[];
    };
    const c = check(report.checks);
    expect(c?.status).toBe('warn');
    expect(c?.detail).toMatch(/refused on this process \(EPERM/);
    expect(c?.fix).toMatch(/seccomp/);
    expect(report.checks.find((x) => x.id === 'seccomp')?.status).not.toBe('ok');
  });
});
