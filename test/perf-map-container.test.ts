// A JIT in a container names its perf map after its pid in its own pid namespace; stackshot,
// outside, must find /tmp/perf-<namespace pid>.map through the process's root.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, expect, it } from 'vitest';

import { snapshotSync } from '../src/index';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const CAN_UNSHARE = (() => {
  try {
    execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

it.skipIf(!CAN_UNSHARE)('names JS frames of a node process in its own pid namespace', async () => {
  const script = "function spinInContainer() { for (;;) {} }\nconsole.log('ready'); spinInContainer();";
  // --kill-child: killing unshare (what stopAllTargets does) takes its child with it; without
  // it, the node process (pid 1 of its namespace) would be orphaned and spin on.
  const unshare = await startTarget('unshare', [
    '--pid',
    '--fork',
    '--kill-child',
    '--mount-proc',
    process.execPath,
    '--perf-basic-prof',
    '--interpreted-frames-native-stack',
    '--no-logfile-per-isolate',
    '--logfile=+',
    '-e',
    script,
  ]);
  // unshare --fork runs node as its child: pid 1 inside the namespace.
  const child = Number(
    fs.readFileSync(`/proc/${unshare.pid}/task/${unshare.pid}/children`, 'utf8').trim().split(/\s+/)[0],
  );
  const nspid = /^NSpid:\s*(.*)$/m
    .exec(fs.readFileSync(`/proc/${child}/status`, 'utf8'))![1]
    .trim()
    .split(/\s+/)
    .pop();
  expect(nspid).toBe('1');
  // No map under the host pid. node never removes its map, so one may be left by an earlier
  // process that had this pid (seen once in 342 stale maps here): it is put aside meanwhile.
  const hostMap = `/tmp/perf-${child}.map`;
  const aside = `${hostMap}.stackshot-test-aside`;
  if (fs.existsSync(hostMap)) fs.renameSync(hostMap, aside);
  expect(fs.existsSync(hostMap)).toBe(false);
  try {
    let named = false;
    for (let i = 0; i < 20 && !named; i++) {
      const main = snapshotSync(child).threads.find((t) => t.tid === child)!;
      named = main.frames.some((f) => /spinInContainer/.test(f.symbol ?? ''));
      if (!named) await new Promise((r) => setTimeout(r, 100));
    }
    expect(named).toBe(true);
  } finally {
    fs.rmSync(`/proc/${child}/root/tmp/perf-1.map`, { force: true });
    if (fs.existsSync(aside)) fs.renameSync(aside, hostMap);
    try {
      process.kill(child, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
