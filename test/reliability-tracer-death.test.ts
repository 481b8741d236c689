// Tracer death: a separate node process takes snapshots of a target in a loop and is
// SIGKILLed at random points, many times. The kernel must release every seized thread when
// the tracer dies: 100 ms later no thread of the target is stopped (t/T) or traced, and the
// target is alive. The stackshot process is a child of this test; the target is a grandchild
// (through startFixture's intermediate sh), so neither steals the other's ptrace stops.
//
// Scale: 40 kills in CI (~15 s); STACKSHOT_RELIABILITY_FULL=1 runs the 200.
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';

import { isAlive, threadStates, tracerPids } from './helpers/proc';
import { startFixture, stopAllTargets } from './helpers/target';

const KILLS = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 200 : 40;
const DIST = path.resolve(__dirname, '..', 'dist', 'index.js');

afterEach(async () => {
  await stopAllTargets();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Prints `go` after its first snapshot, then snapshots forever (both schedules, sync).
const LOOP = `
const { snapshotSync } = require(${JSON.stringify(DIST)});
const pid = Number(process.argv[1]);
for (let i = 0; ; i++) {
  snapshotSync(pid, { schedule: i % 2 ? 'consistent' : 'rolling', symbolize: i % 5 === 0 });
  if (i === 0) process.stdout.write('go\\n');
}
`;

it(`${KILLS} tracers SIGKILLed mid-snapshot leave the target running, unstopped and untraced`, async () => {
  const target = await startFixture('threads', 'nofp');
  const before = threadStates(target.pid).size;
  let seed = 12345;
  const random = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  for (let k = 0; k < KILLS; k++) {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['-e', LOOP, String(target.pid)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<NodeJS.Signals | number | null>((r) => child.on('exit', (code, sig) => r(sig ?? code)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.includes('go') && resolve());
      void exited.then(() => reject(new Error(`stackshot child exited before its first snapshot: ${err}`)));
    });
    await sleep(random() * 30); // 0-30 ms into the loop: ~10-100 snapshots in
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    await sleep(100);
    const stopped = [...threadStates(target.pid)].filter(([, s]) => s === 't' || s === 'T');
    expect(stopped, `after kill ${k}`).toEqual([]);
    expect(
      [...tracerPids(target.pid)].filter(([, t]) => t !== 0),
      `after kill ${k}`,
    ).toEqual([]);
    expect(isAlive(target.pid)).toBe(true);
  }
  expect(threadStates(target.pid).size).toBe(before);
  expect(target.running).toBe(true);
}, 180_000);
