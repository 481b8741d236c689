// Issue 8, other tracers: a target under gdb is refused with EPERM naming gdb (strace and a
// bare PTRACE_SEIZE tracer are covered in test/errors.test.ts; two concurrent snapshots of
// one pid are serialised, test/snapshot.test.ts). The refused snapshot must not disturb the
// debugger's hold, and once gdb detaches, snapshots work and the target runs.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';

import { snapshotSync, StackshotError } from '../src/index';
import { assertDetached, findThreadByName, threadStates, tracerPid } from './helpers/proc';
import { startFixture, stopAllTargets } from './helpers/target';

const HAVE_GDB = (() => {
  try {
    execFileSync('gdb', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

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
