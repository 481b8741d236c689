// Target churn: a target that exits or creates and joins thousands of threads
// a second while it is being captured gives a clean partial result or a clean ESRCH
// StackshotError, never a hang, a crash, or a thread left stopped. Zombies (a leader that
// called pthread_exit, an unreaped child) are handled.
//
// (exec mid-snapshot: test/reliability-exec.test.ts.)
// Scale: counts are set for CI (this file runs in ~15 s on 2 cores). STACKSHOT_RELIABILITY_FULL=1
// runs the full sizes (x5 everywhere).
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshot, snapshotSync, StackshotError, type Snapshot } from '../src/index';
import { compileFixture } from './helpers/fixtures';
import { assertDetached, isAlive, threadStates, tracerPids } from './helpers/proc';
import { startFixture, startTarget, stopAllTargets } from './helpers/target';

const FULL = process.env.STACKSHOT_RELIABILITY_FULL === '1';
const scale = (n: number) => (FULL ? n * 5 : n);

afterEach(async () => {
  await stopAllTargets();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A snapshot, or the ESRCH StackshotError of a process that is gone; anything else fails. */
async function snapshotOrGone(pid: number, i: number): Promise<Snapshot | 'gone'> {
  try {
    return await snapshot(pid, { schedule: i % 2 ? 'consistent' : 'rolling', stopTimeoutMs: 2000 });
  } catch (e) {
    expect(e).toBeInstanceOf(StackshotError);
    expect((e as StackshotError).code).toBe('ESRCH');
    return 'gone';
  }
}

function expectWellFormed(shot: Snapshot): void {
  for (const t of shot.threads) {
    expect([undefined, 'exited']).toContain(t.failure);
    if (t.failure !== undefined) {
      expect(t.frames).toEqual([]);
      expect(t.end).toBe('not-captured');
    }
  }
}

/** No thread of pid in a stopped state (t/T) 100 ms from now (a pid that is gone passes). */
async function expectNothingStopped(pid: number): Promise<void> {
  await sleep(100);
  let states: Map<number, string>;
  try {
    states = threadStates(pid);
  } catch {
    return; // exited
  }
  expect([...states].filter(([, s]) => s === 't' || s === 'T')).toEqual([]);
}

describe('a target that exits mid-snapshot', () => {
  it('gives a snapshot or a clean ESRCH, for exits at random points', async () => {
    const runs = scale(12);
    let gone = 0;
    let partial = 0;
    for (let r = 0; r < runs; r++) {
      // Exits 0-40 ms after ready while snapshots run back to back.
      const target = await startFixture('exits', 'fp', ['--parallel', '4', '--exit-after', String((r * 7) % 40)]);
      // A hang would be caught by the test's timeout; no wall-clock bound per snapshot (a busy
      // machine would break it).
      for (let i = 0; ; i++) {
        const shot = await snapshotOrGone(target.pid, i);
        if (shot === 'gone') {
          gone++;
          break;
        }
        expectWellFormed(shot);
        if (shot.threads.some((t) => t.failure === 'exited')) partial++;
      }
      expect(isAlive(target.pid)).toBe(false);
    }
    expect(gone).toBe(runs);
    expect(partial).toBeGreaterThan(0);
  });

  // A thread killed by the process's exit while it sits in our ptrace stop makes PTRACE_DETACH
  // fail with ESRCH; a dead tracee stays a zombie until its tracer reaps it, and the target's
  // parent would never see the exit. The detach path now reaps it (racy: ~1 run in 12 before).
  it('the exited target is fully reaped by its parent (no zombie thread held by our tracer)', async () => {
    for (let r = 0; r < 40; r++) {
      const target = await startFixture('exits', 'fp', ['--parallel', '4', '--exit-after', String((r * 7) % 40)]);
      for (let i = 0; (await snapshotOrGone(target.pid, i)) !== 'gone'; i++);
      const status = await Promise.race([target.exited, sleep(20_000).then(() => 'never reaped' as const)]);
      let threads = 'gone';
      try {
        threads = [...tracerPids(target.pid)]
          .map(([tid, tracer]) => `${tid}:${threadStates(target.pid).get(tid)}:TracerPid=${tracer}`)
          .join(' ');
      } catch {
        /* reaped */
      }
      expect(
        status,
        `run ${r}: pid ${target.pid} threads ${threads}; our threads ${fs.readdirSync('/proc/self/task').join(',')}`,
      ).toBe(0);
    }
  });
});

describe('a target creating and joining thousands of threads a second', () => {
  it('never hangs, crashes, or leaves a thread stopped', async () => {
    const target = await startFixture('exits', 'nofp', ['--parallel', '16']);
    process.kill(target.pid, 'SIGUSR1');
    const before = Number((await target.waitForLine(/^created=\d+$/)).slice(8));
    let exited = 0;
    let captured = 0;
    for (let i = 0; i < scale(150); i++) {
      const shot = i % 3 === 2 ? snapshotSync(target.pid, { schedule: 'consistent' }) : await snapshot(target.pid);
      expectWellFormed(shot);
      expect(shot.threads.find((t) => t.tid === target.pid)?.failure).toBeUndefined();
      for (const t of shot.threads) {
        if (t.failure === 'exited') exited++;
        else captured++;
      }
    }
    process.kill(target.pid, 'SIGUSR1');
    const after = Number((await target.waitForLine(/^created=\d+$/)).slice(8));
    // The churn went on during the snapshots: threads were created meanwhile, and some exited
    // in the middle of one. (Its rate is a machine's speed, not a property of stackshot.)
    expect(after).toBeGreaterThan(before);
    expect(exited).toBeGreaterThan(0);
    expect(captured).toBeGreaterThan(0);
    assertDetached(target.pid, 200);
    await expectNothingStopped(target.pid);
    expect(target.running).toBe(true);
  });
});

describe('zombies', () => {
  // When the leader has called pthread_exit, /proc/<pid>/maps is empty (the leader's mm is
  // gone): the capture reads a live thread's maps instead.
  it('a zombie leader is reported exited and the other threads are unwound completely', async () => {
    const target = await startTarget(compileFixture('rel_zombie', 'fp'), ['leader']);
    // The worker prints `ready` just before it parks in worker_sleep: on a busy machine it may
    // still be returning from write() when we look. Wait until it sleeps (nanosleep is
    // clock_nanosleep, syscall 230, in glibc on x86-64; 115 on aarch64).
    const worker = threadStates(target.pid);
    const tid = [...worker.keys()].find((t) => t !== target.pid)!;
    const asleep = (): boolean =>
      /^(230|115) /.test(fs.readFileSync(`/proc/${target.pid}/task/${tid}/syscall`, 'utf8'));
    for (let i = 0; i < 200 && !asleep(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(asleep()).toBe(true);
    for (const schedule of ['rolling', 'consistent'] as const) {
      const shot = snapshotSync(target.pid, { schedule });
      const leader = shot.threads.find((t) => t.tid === target.pid);
      expect(leader?.failure).toBe('exited');
      const worker = shot.threads.find((t) => t.name === 'worker');
      expect(worker?.failure).toBeUndefined();
      expect(worker?.frames.map((f) => f.symbol)).toContain('worker_sleep');
      expect(worker?.complete).toBe(true);
    }
  });

  it('a zombie leader never fails the snapshot, and the process is left running', async () => {
    const target = await startTarget(compileFixture('rel_zombie', 'fp'), ['leader']);
    for (let i = 0; i < 20; i++) {
      const shot = snapshotSync(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling' });
      expect(shot.threads.find((t) => t.tid === target.pid)?.failure).toBe('exited');
      expect(shot.threads.find((t) => t.name === 'worker')?.failure).toBeUndefined();
    }
    await expectNothingStopped(target.pid);
    expect(threadStates(target.pid).get(target.pid)).toBe('Z');
    expect(target.running).toBe(true);
  });

  it('a zombie process is a clean ESRCH', async () => {
    const target = await startTarget(compileFixture('rel_zombie', 'fp'), ['child'], { ready: /^ready$/ });
    const zombie = Number(/zombie (\d+)/.exec(target.stdout)?.[1]);
    expect(threadStates(zombie).get(zombie)).toBe('Z');
    for (const run of [() => snapshotSync(zombie), () => snapshotSync(zombie, { schedule: 'consistent' })]) {
      expect(run).toThrow(StackshotError);
      try {
        run();
      } catch (e) {
        expect(e).toMatchObject({ code: 'ESRCH' });
      }
    }
    await expect(snapshot(zombie)).rejects.toMatchObject({ code: 'ESRCH' });
  });
});
