// Stack memory: limits that tell the truth, and pages a copy must not touch.
// rel_stackmem runs a thread `deep` on a 1 GiB stack mapping, ~6 MiB deep in 64 KiB frames
// (most pages of each frame never touched), optionally with a page of it dropped, or its whole
// mapping registered with userfaultfd: never served, or served by a handler thread that counts
// the faults it serves.
//
// - stackBytes is honoured up to its maximum (64 MiB): the whole 6 MiB stack is copied and
//   walked to the thread entry; a 4 MiB limit copies exactly 4 MiB and says copy-exhausted.
// - A page not in memory is not read (reading it would populate it, or wait for the target's
//   fault handler): it stays out of memory, and a walk that needs it ends `stack-unreadable`.
// - consistent on 1,000 threads with 64 MiB: copies sized to what the stacks use.
// - userfaultfd: no snapshot waits for a fault that is never served (it used to hang with the
//   thread stopped), and the target's handler never serves a fault we caused (it served ~1,000).
//   The same for a code page (rel_codemem): the unwinder reads the code at a thread's pc.
//   And for the reads that name runtime frames (V8 heap objects, CPython frames), made later.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshot, snapshotSync } from '../src/index';
import type { Schedule, Snapshot, ThreadStack } from '../src/types';
import { compileFixture } from './helpers/fixtures';
import { findThreadByName, isAlive, threadStates, waitUntil } from './helpers/proc';
import { startFixture, startTarget, stopAllTargets, type Target } from './helpers/target';

const DEPTH = 96; // x 64 KiB frames: ~6 MiB of stack in use
const STOP_TIMEOUT_MS = 1000;
const SCHEDULES: Schedule[] = ['rolling', 'consistent'];
const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const ADDON = path.join(__dirname, '..', 'dist', 'addon.js');

afterEach(async () => {
  await stopAllTargets();
});

/** pause(): its own system call on x86-64; rt_sigsuspend where there is none (aarch64). */
const PAUSE_SYSCALL = process.arch === 'x64' ? '34' : '133';

/** The fixture, once its deep thread sits in pause() (it says `ready` from inside write()). */
async function start(mode: 'plain' | 'dropped' | 'uffd' | 'served'): Promise<Target> {
  const target = await startTarget(compileFixture('rel_stackmem', 'fp'), [mode, String(DEPTH)]);
  const tid = findThreadByName(target.pid, 'deep');
  const syscall = () => fs.readFileSync(`/proc/${target.pid}/task/${tid}/syscall`, 'utf8').split(' ')[0];
  await waitUntil(() => syscall() === PAUSE_SYSCALL);
  return target;
}

function deep(shot: Snapshot): ThreadStack {
  const t = shot.threads.find((x) => x.name === 'deep');
  if (!t) throw new Error(`no thread deep in ${shot.threads.map((x) => x.name).join(', ')}`);
  return t;
}

/** The page the fixture dropped (its `page=0x…` line). */
function droppedPage(target: Target): bigint {
  const m = /^page=(0x[0-9a-f]+)$/m.exec(target.stdout);
  if (!m) throw new Error(`no page= line in ${JSON.stringify(target.stdout)}`);
  return BigInt(m[1]);
}

/** Whether a page of pid is in memory (present or swapped), from /proc/<pid>/pagemap. */
function inMemory(pid: number, page: bigint): boolean {
  const fd = fs.openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    const entry = Buffer.alloc(8);
    fs.readSync(fd, entry, 0, 8, Number((page / 4096n) * 8n));
    return (entry.readBigUInt64LE() & (3n << 62n)) !== 0n;
  } finally {
    fs.closeSync(fd);
  }
}

function noThreadStopped(pid: number): [number, string][] {
  return [...threadStates(pid)].filter(([, s]) => s === 't' || s === 'T');
}

describe('stackBytes is honoured up to 64 MiB', () => {
  it.each(SCHEDULES)(
    '%s: 64 MiB copies the whole 6 MiB stack of a 1 GiB mapping; 4 MiB copies 4 MiB',
    async (schedule) => {
      const target = await start('plain');
      const whole = deep(snapshotSync(target.pid, { schedule, stackBytes: 64 << 20 }));
      expect(whole.stackBytes).toBeGreaterThan(DEPTH * 65536);
      expect(whole.stackBytes).toBeLessThan(8 << 20);
      expect(whole.end).toBe('thread-entry');
      expect(whole.complete).toBe(true);
      expect(whole.frames.filter((f) => f.symbol === 'deep_frame')).toHaveLength(DEPTH);

      const capped = deep(snapshotSync(target.pid, { schedule, stackBytes: 4 << 20 }));
      expect(capped.stackBytes).toBe(4 << 20); // was 4,191,568: 1,024 iovecs of one call
      expect(capped.end).toBe('copy-exhausted');
      expect(noThreadStopped(target.pid)).toEqual([]);
    },
  );
});

it('consistent, 1,000 threads, stackBytes 64 MiB: copies what the stacks use, not threads x 64 MiB', async () => {
  // It allocated threads x stackBytes up front: 1,000 x 64 MiB failed (std::bad_alloc as EIO),
  // and 2,000 x 512 KiB took 1 GB.
  const target = await startFixture('threads', 'fp', ['--workers', '1000', '--depth', '5', '--worker-leaf', 'sleep']);
  const rssBefore = process.memoryUsage().rss;
  const shot = snapshotSync(target.pid, { schedule: 'consistent', stackBytes: 64 << 20, symbolize: false });
  expect(shot.threads).toHaveLength(1001);
  expect(shot.threads.filter((t) => t.failure !== undefined)).toEqual([]);
  expect(shot.cost.bytesCopied).toBeLessThan(64 << 20);
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 << 20);
}, 60_000);

describe('pages not in memory are never read', () => {
  it.each(SCHEDULES)(
    '%s: a dropped page stays out of memory and ends the walk as stack-unreadable',
    async (schedule) => {
      const target = await start('dropped');
      const page = droppedPage(target);
      expect(inMemory(target.pid, page)).toBe(false);
      const t = deep(await snapshot(target.pid, { schedule, stackBytes: 64 << 20 }));
      expect(t.end).toBe('stack-unreadable');
      // The frames below the dropped page are all there, innermost first.
      expect(t.frames.map((f) => f.symbol).slice(0, 3)).toEqual(['pause', 'deep_wait', 'deep_bottom']);
      expect(inMemory(target.pid, page)).toBe(false);
    },
  );

  it('userfaultfd never served: no snapshot waits for it, no thread is left stopped', async () => {
    const target = await start('uffd');
    for (const schedule of SCHEDULES) {
      for (const sync of [true, false]) {
        const t0 = Date.now();
        const shot = sync
          ? snapshotSync(target.pid, { schedule, stackBytes: 64 << 20, stopTimeoutMs: STOP_TIMEOUT_MS })
          : await snapshot(target.pid, { schedule, stackBytes: 64 << 20, stopTimeoutMs: STOP_TIMEOUT_MS });
        expect(Date.now() - t0, `${schedule} ${sync ? 'sync' : 'async'}`).toBeLessThan(STOP_TIMEOUT_MS + 1000);
        expect(deep(shot).end).toBe('stack-unreadable');
        expect(noThreadStopped(target.pid)).toEqual([]);
      }
    }
    expect(inMemory(target.pid, droppedPage(target))).toBe(false);
    expect(isAlive(target.pid)).toBe(true);
  });

  it.skipIf(process.arch !== 'x64')(
    "userfaultfd on the code at a thread's pc (x86-64 machine code): the walk does not wait for it",
    async () => {
      const target = await startTarget(compileFixture('rel_codemem', 'fp'), []);
      const page = droppedPage(target);
      // In a process of its own, bounded: a read that waited would hang whoever walks.
      const r = spawnSync(process.execPath, [CLI, String(target.pid), '--json'], {
        encoding: 'utf8',
        timeout: 30_000,
        killSignal: 'SIGKILL',
      });
      expect(r.status, r.stderr).toBe(0);
      const jit = (JSON.parse(r.stdout) as Snapshot).threads.find((t) => t.name === 'jit');
      expect(jit?.frames[0]?.pc).toBe(`0x${(page + 7n).toString(16)}`); // after the syscall instruction
      expect(inMemory(target.pid, page)).toBe(false);
      expect(noThreadStopped(target.pid)).toEqual([]);
      expect(isAlive(target.pid)).toBe(true);
    },
  );

  it('userfaultfd under the runtime reads (V8 heap, CPython frames): a page not in memory is not read', async () => {
    const target = await start('uffd');
    const page = droppedPage(target);
    // A page of the stack in memory, and one that is not (it was never touched) right above it.
    let kept = page + 4096n;
    while (!(inMemory(target.pid, kept) && !inMemory(target.pid, kept + 4096n))) kept += 4096n;
    // In a process of its own, bounded: a read that waited would hang this test's worker.
    const read = `const m = require(${JSON.stringify(ADDON)}).binding.openMemory(${target.pid});
      const len = (a, n) => m.read(a, n).length;
      console.log(JSON.stringify([len(${page}n, 8), len(${kept}n, 8), len(${kept + 4088n}n, 16)]));
      m.close();
      console.log(len(${kept}n, 8));`;
    const r = spawnSync(process.execPath, ['-e', read], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
    expect(r.status, r.stderr).toBe(0);
    // Dropped: nothing. In memory: all. From it across into one not: the bytes before. Closed: nothing.
    expect(r.stdout).toBe('[0,8,8]\n0\n');
    expect(inMemory(target.pid, kept + 4096n)).toBe(false);
    expect(inMemory(target.pid, page)).toBe(false);
    expect(isAlive(target.pid)).toBe(true);
  });

  it('userfaultfd with a handler: the target serves no fault for us, in either schedule', async () => {
    const target = await start('served');
    for (const schedule of SCHEDULES) {
      const t0 = Date.now();
      const shot = await snapshot(target.pid, { schedule, stackBytes: 64 << 20, stopTimeoutMs: STOP_TIMEOUT_MS });
      expect(Date.now() - t0).toBeLessThan(STOP_TIMEOUT_MS + 1000);
      expect(shot.threads.map((t) => t.name).sort()).toEqual(['deep', 'rel_stackmem', 'uffd-handler']);
      expect(shot.threads.every((t) => t.failure === undefined)).toBe(true);
    }
    process.kill(target.pid, 'SIGUSR1');
    expect(await target.waitForLine(/^served=/, 60_000)).toBe('served=0'); // 10 s was short under load
  });
});
