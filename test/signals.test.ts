// 1,000 consecutive snapshots while real-time signals rain on the target: afterwards it runs,
// every thread is in its expected state, and it received every signal sent to it.
import { afterEach, expect, it } from 'vitest';

import { snapshot } from '../src/index';
import { assertDetached, findThreadByName, threadStates } from './helpers/proc';
import { SIGRTMIN, startFixture, stopAllTargets, waitForRtCount } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

it('1,000 snapshots lose no signal and leave every thread as it was', async () => {
  const target = await startFixture('threads', 'fp');
  const before = threadStates(target.pid);
  const spin = findThreadByName(target.pid, 'spin');
  expect(before.get(spin)).toBe('R');

  // Signals are sent from the JS thread while the captures run on native threads, so many of
  // them arrive while some thread of the target is stopped. The sender waits for the target to
  // keep up (at most MAX_AHEAD unhandled): unbounded, it queued ten million signals on a busy
  // machine and the target had not handled them all when the test gave up.
  const MAX_AHEAD = 2_000;
  let sent = 0;
  let sending = true;
  const sender = (async () => {
    while (sending) {
      if (sent % MAX_AHEAD === 0 && sent > 0) await waitForRtCount(target, sent - MAX_AHEAD / 2, 60_000);
      for (let i = 0; i < 5; i++) {
        process.kill(target.pid, SIGRTMIN);
        sent++;
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let i = 0; i < 1000; i++) {
    const shot = await snapshot(target.pid, { schedule: i % 4 === 3 ? 'consistent' : 'rolling' });
    expect(
      shot.threads.filter((t) => t.failure !== undefined).map((t) => `${t.name}: ${t.failure} ${t.failureCode ?? ''}`),
    ).toEqual([]);
  }
  sending = false;
  await sender;

  // Standard signals (the SIGUSR1 that asks for the count) are delivered before queued
  // real-time ones, so the last few SIGRTMIN may still be pending at the first query: the
  // count must reach `sent` (and never pass it); a lost signal leaves it short forever.
  expect(await waitForRtCount(target, sent, 60_000)).toBe(sent);
  expect(sent).toBeGreaterThan(1000);
  assertDetached(target.pid);
  // A thread resumed a moment ago is runnable until it is back in its blocking call.
  const settled = Date.now() + 10_000;
  while (JSON.stringify([...threadStates(target.pid)]) !== JSON.stringify([...before]) && Date.now() < settled) {
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(threadStates(target.pid)).toEqual(before);
  expect(target.running).toBe(true);
}, 180_000);
