// The innermost frame stopped in a prologue or an epilogue has no frame record of its own: the
// frame pointer still belongs to its caller, and a plain frame-pointer walk would skip the
// caller. V8's optimized code runs a deopt check before `push %rbp` and its argument-count
// check after `pop %rbp`, so a thread spinning in small JS functions is stopped there often.
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';

import { DEMO_NODE_FLAGS } from '../src/demo/run-demo';
import { snapshotSync } from '../src/index';
import { findThreadByName } from './helpers/proc';
import { startNode, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

// Who calls whom in the demo workload's spinning worker.
const CALLER: Record<string, string> = {
  hasDivisor: 'isPrime',
  isPrime: 'computePrimes',
  computePrimes: 'spinForever',
};

const jsName = (symbol: string | null) => /^JS:[*~]?(\w+)/.exec(symbol ?? '')?.[1] ?? '';

it('names the caller of a JS function stopped anywhere in it, prologue and epilogue included', async () => {
  const workload = path.join(__dirname, '..', 'src', 'demo', 'workload.js');
  const target = await startNode(`require(${JSON.stringify(workload)})`, [...DEMO_NODE_FLAGS]);
  const tid = findThreadByName(target.pid, 'js-primes');
  let checked = 0;
  let viaStackPointer = 0;
  const wrong: string[] = [];
  for (let i = 0; i < 1500; i++) {
    // The perf map is this test's oracle for the unwinding: names from V8's memory (which
    // also list inlined calls as frames) are tested in v8-frames.test.ts.
    const t = snapshotSync(target.pid, { threads: [tid], runtimeFrames: false }).threads[0];
    const fn = jsName(t.frames[0]?.symbol);
    if (!(fn in CALLER)) continue; // stopped in a builtin or the runtime
    checked++;
    if (t.frames[1].method === 'sp') viaStackPointer++;
    const caller = jsName(t.frames[1]?.symbol);
    if (caller !== CALLER[fn])
      wrong.push(
        `${t.frames[0].symbol}+${t.frames[0].symbolOffset} -> ${t.frames[1]?.symbol} (${t.frames[1]?.method})`,
      );
  }
  expect(wrong).toEqual([]);
  expect(checked).toBeGreaterThan(1000);
  // The prologue/epilogue rule must actually have been exercised.
  expect(viaStackPointer).toBeGreaterThan(0);
}, 120_000);
