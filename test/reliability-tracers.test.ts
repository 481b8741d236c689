// Other tracers: a target under gdb is refused with EPERM naming gdb (strace and a
// bare PTRACE_SEIZE tracer are covered in test/permissions.test.ts; two concurrent snapshots of
// one pid in one process are serialised, test/snapshot.test.ts; in two processes, below). The
// refused snapshot must not disturb the debugger's hold, and once gdb detaches, snapshots work
// and the target runs.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';

import { snapshotSync, StackshotError } from '../src/index';
import { formatSnapshotText } from '../src/output/text';
import { compileFixture } from './helpers/fixtures';
import { assertDetached, findThreadByName, threadStates, tracerPid } from './helpers/proc';
import { startFixture, startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

const HAVE_GDB = have('gdb');

afterEach(async () => {
  await stopAllTargets();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it.skipIf(!HAVE_GDB)(
  'a target held by gdb: EPERM naming gdb, gdb undisturbed, fine after gdb detaches',
  async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    // gdb attaches (all threads stopped), then waits on its stdin; closing stdin ends the batch
    // and gdb detaches.
    const gdb = spawn(
      'gdb',
      ['-q', '-nx', '-batch', '-ex', 'set debuginfod enabled off', '-ex', 'shell read x', '-p', String(target.pid)],
      {
        stdio: ['pipe', 'ignore', 'ignore'],
      },
    );
    try {
      const deadline = Date.now() + 30_000;
      while (tracerPid(target.pid) === 0 || ![...threadStates(target.pid).values()].every((s) => s === 't')) {
        if (Date.now() > deadline) throw new Error('gdb did not attach');
        await sleep(20);
      }
      let err: unknown;
      try {
        snapshotSync(target.pid);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StackshotError);
      expect(err).toMatchObject({ code: 'EPERM', reason: 'already-traced', pid: target.pid });
      expect((err as StackshotError).message).toBe(
        `cannot attach to pid ${target.pid}: already traced by pid ${gdb.pid} (gdb)`,
      );
      // gdb still holds every thread, stopped, exactly as before.
      expect(tracerPid(target.pid)).toBe(gdb.pid);
      expect([...threadStates(target.pid).values()].every((s) => s === 't')).toBe(true);
    } finally {
      gdb.stdin.end();
      await new Promise((r) => gdb.on('exit', r));
    }
    await sleep(50);
    const shot = snapshotSync(target.pid);
    expect(shot.threads.every((t) => t.failure === undefined)).toBe(true);
    assertDetached(target.pid, 500);
    const spin = findThreadByName(target.pid, 'spin');
    const deadline = Date.now() + 2000;
    while (threadStates(target.pid).get(spin) !== 'R' && Date.now() < deadline) await sleep(5);
    expect(threadStates(target.pid).get(spin)).toBe('R');
    expect(fs.existsSync(`/proc/${target.pid}`)).toBe(true);
  },
  60_000,
);

// Two stackshots of one target at once. Each seize of a thread the other holds used
// to fail at once ("not captured: could not be stopped (EPERM)" on 162 of 195 runs). Now a
// capture waits for the other tracer (within stopTimeoutMs) and gets every thread.
const CONCURRENT_SNAPSHOTS = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 400 : 60;
const DIST = `${__dirname}/../dist/index.js`;
// Prints, once done, how many threads failed (with their codes) over N snapshots.
const RIVAL = `
const { snapshotSync } = require(${JSON.stringify(DIST)});
const [pid, n] = process.argv.slice(1).map(Number);
const failed = {};
for (let i = 0; i < n; i++) {
  const shot = snapshotSync(pid, { schedule: i % 2 ? 'consistent' : 'rolling', symbolize: false });
  for (const t of shot.threads) if (t.failure) failed[t.failure + ' ' + (t.failureCode || '')] = (failed[t.failure + ' ' + (t.failureCode || '')] || 0) + 1;
}
process.stdout.write(JSON.stringify(failed) + '\\n');
`;

function runRival(pid: number): Promise<string> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['-e', RIVAL, String(pid), String(CONCURRENT_SNAPSHOTS)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) =>
    child.on('exit', (code) => (code === 0 ? resolve(out.trim()) : reject(new Error(`rival exited ${code}: ${err}`)))),
  );
}

it(`two stackshot processes, ${CONCURRENT_SNAPSHOTS} snapshots each at once: every thread captured by both`, async () => {
  const target = await startFixture('threads', 'fp', ['--workers', '8', '--depth', '20', '--worker-leaf', 'sleep']);
  const [a, b] = await Promise.all([runRival(target.pid), runRival(target.pid)]);
  expect(a).toBe('{}');
  expect(b).toBe('{}');
  assertDetached(target.pid, 500);
}, 120_000);

it('a thread another tracer keeps: waited for, then failed with EPERM naming the tracer', async () => {
  const target = await startFixture('threads', 'fp', ['--only', 'spin']);
  const spin = findThreadByName(target.pid, 'spin');
  const holder = await startTarget(compileFixture('rel_holder', 'fp'), [String(spin)]);
  expect(tracerPid(target.pid, spin)).toBe(holder.pid);
  // The ptrace path is the one another tracer's hold refuses ('auto' samples the running spin
  // thread with a perf event, which no hold prevents).
  for (const schedule of ['rolling', 'consistent'] as const) {
    const shot = snapshotSync(target.pid, { schedule, stopTimeoutMs: 200, capture: 'ptrace' });
    const held = shot.threads.find((t) => t.tid === spin)!;
    expect(held).toMatchObject({
      failure: 'failed',
      failureCode: 'EPERM',
      tracer: { pid: holder.pid, command: 'rel_holder' },
    });
    expect(shot.threads.filter((t) => t.tid !== spin).every((t) => t.failure === undefined)).toBe(true);
    expect(formatSnapshotText(shot)).toContain(`(EPERM: already traced by pid ${holder.pid} (rel_holder))`);
  }
  // The holder's hold is undisturbed.
  expect(tracerPid(target.pid, spin)).toBe(holder.pid);
});
