// The per-thread capture chooser. A thread blocked in a system call is read without a
// stop ('blocked'); where that cannot be proven consistent, or the walk needs a register the
// stop-free read does not give, the thread is stopped with ptrace after all, and says why.
// (test/reliability-eintr.test.ts: 1,000 snapshots of parked threads disturb none of them.)
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { binding, type RawCaptureOptions } from '../src/addon';
import { captureToFile, snapshotFromFile } from '../src/capture-file';
import { CAPTURES, STATUSES } from '../src/capture/capture-schema';
import { snapshotSync, type ThreadStack } from '../src/index';
import { resolveOptions } from '../src/options';
import { buildSnapshot, liveOrigin } from '../src/snapshot';
import { compileFixture, EXPECTED_STACKS, matchFrames } from './helpers/fixtures';
import { assertDetached, findThreadByName, tracerPid, waitUntil } from './helpers/proc';
import { have } from './helpers/tools';
import { euStackPcs, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startFixture, startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const names = (t: ThreadStack) => t.frames.map((f) => f.symbol ?? '??');

// The capture hands its threads over as columns whose status and path are numbers: the names the
// addon gives them must be the closed sets the capture file schema (and RawThreadCapture) use.
describe('capture columns', () => {
  it('number statuses and paths as the TypeScript sets name them', () => {
    expect([...binding.captureStatuses].sort()).toEqual([...STATUSES].sort());
    expect([...binding.capturePaths].sort()).toEqual([...CAPTURES].sort());
  });
});

// Targets run without the sanitizer runtime the ASan run preloads into node: its interceptors
// (read, epoll_wait, ...) keep frame pointers, so their callers' walks would need %rbp and the
// threads would be stopped, which these tests tell apart from the plain case.
const PLAIN = { env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD')) };

function thread(threads: ThreadStack[], tid: number): ThreadStack {
  const t = threads.find((x) => x.tid === tid);
  if (t === undefined) throw new Error(`thread ${tid} missing`);
  return t;
}

/** Every thread's frame addresses equal eu-stack's of the same (still blocked) threads. */
function expectPcsOfEuStack(threads: ThreadStack[], pid: number): void {
  const oracle = euStackPcs(pid);
  for (const t of threads)
    expect(
      t.frames.map((f) => f.pc),
      t.name,
    ).toEqual(oracle.get(t.tid));
}

describe('capture paths', () => {
  it('a blocked thread in code without frame pointers is read without a stop, as eu-stack sees it', async () => {
    const target = await startFixture('threads', 'nofp', ['--only', 'sleeper,epoller,reader'], PLAIN);
    const shot = snapshotSync(target.pid);
    for (const name of ['sleeper', 'epoller', 'reader', 'main']) {
      const t = thread(shot.threads, name === 'main' ? target.pid : findThreadByName(target.pid, name));
      expect(t, name).toMatchObject({ capture: 'blocked', pauseNs: 0, complete: true });
      expect(t.captureFallback).toBeUndefined();
      expect(matchFrames(names(t), EXPECTED_STACKS[name]!)).toBeNull();
    }
    if (HAVE_EU_STACK) expectPcsOfEuStack(shot.threads, target.pid);
    assertDetached(target.pid);
  });

  // A frame-pointer-compiled caller of a libc wrapper that leaves %rbp alone: the caller's CFA
  // is %rbp + 16, and %rbp is not in /proc/<pid>/task/<tid>/syscall. The caller's prologue gives
  // it (sp + what the prologue pushed and reserved), unless the frame grew after its prologue.
  it.skipIf(!HAVE_EU_STACK)(
    'a caller with frame pointers: its %rbp from its prologue, no stop; a frame that grew later: stopped',
    async () => {
      const kinds = ['sleeper', 'epoller', 'reader', 'condwait', 'vla'];
      const target = await startFixture('threads', 'fp', ['--only', kinds.join(',')], PLAIN);
      const shot = snapshotSync(target.pid);
      for (const name of ['sleeper', 'epoller', 'reader', 'condwait', 'main']) {
        const t = thread(shot.threads, name === 'main' ? target.pid : findThreadByName(target.pid, name));
        expect(t, name).toMatchObject({ capture: 'blocked', pauseNs: 0, complete: true });
        expect(matchFrames(names(t), EXPECTED_STACKS[name]!), name).toBeNull();
      }
      // The variable-length array moved sp after the prologue: the frame record the prologue
      // points to is not one, and the walk asks for the registers.
      const vla = thread(shot.threads, findThreadByName(target.pid, 'vla'));
      expect(vla).toMatchObject({ capture: 'ptrace', captureFallback: 'register-unknown', complete: true });
      expect(vla.pauseNs).toBeGreaterThan(0);
      expect(matchFrames(names(vla), EXPECTED_STACKS.vla!)).toBeNull();
      expectPcsOfEuStack(shot.threads, target.pid);
      assertDetached(target.pid);
    },
  );

  it('a thread that runs during the stop-free copy is stopped instead, and its stack is complete', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-paths-'));
    try {
      const target = await startTarget(
        compileFixture('rel_eintr', 'nofp'),
        [path.join(dir, 'counters'), '--strict'],
        PLAIN,
      );
      const tiny = findThreadByName(target.pid, 'nanosleep_tiny'); // wakes every few tens of µs
      const parked = findThreadByName(target.pid, 'nanosleep');
      // 2 ms between the copy and the second reads: the tiny sleeper surely runs in them.
      const opts: RawCaptureOptions = {
        tids: [tiny, parked],
        consistent: false,
        stackBytes: 512 * 1024,
        stopTimeoutMs: 1000,
        capture: 'blocked',
        testCopyDelayUs: 2000,
      };
      const shot = buildSnapshot(
        binding.captureSync(target.pid, opts),
        resolveOptions(),
        process.hrtime.bigint(),
        liveOrigin(target.pid, 'rolling', ''),
      );
      const t = thread(shot.threads, tiny);
      expect(t).toMatchObject({ capture: 'ptrace', complete: true });
      // 'running' when the second try found it on a CPU, else 'ran-during-copy'.
      expect(['ran-during-copy', 'running']).toContain(t.captureFallback);
      expect(matchFrames(names(t), ['run', /^start_thread$/, /^(__)?clone3$/], { suffix: true })).toBeNull();
      // The wait alone refuses nothing: the thread that stayed asleep kept its stop-free copy.
      expect(thread(shot.threads, parked)).toMatchObject({ capture: 'blocked', pauseNs: 0, complete: true });
      assertDetached(target.pid);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // The stop-free reads keep each thread's /proc files open from one snapshot to the next
  // (native/capture/held_task_files.h): bounded, whatever the number of threads.
  it('holds at most 256 task files open between snapshots of a 151-thread target', async () => {
    const target = await startFixture('threads', 'fp', ['--workers', '150', '--worker-leaf', 'sleep'], PLAIN);
    const heldFor = (pid: number) =>
      fs.readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith(`/proc/${pid}/task/`);
        } catch {
          return false; // closed since it was listed
        }
      }).length;
    for (let i = 0; i < 2; i++) {
      const shot = snapshotSync(target.pid);
      expect(shot.threads.length).toBeGreaterThanOrEqual(151);
      expect(shot.threads.filter((t) => t.capture === 'blocked').length).toBeGreaterThan(100);
      const held = heldFor(target.pid);
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(256);
    }
    assertDetached(target.pid);
  });

  // TracerPid is looked up again only for a thread that has run since the last look found none
  // (native/capture/blocked/blocked_capture.cc): a tracer must stop a thread to act on it, and
  // the stop runs it. strace's attach does: the next snapshot leaves the thread to strace.
  it.skipIf(!have('strace'))('a thread traced after a snapshot is left to its tracer in the next', async () => {
    const target = await startFixture('threads', 'nofp', ['--only', 'sleeper'], PLAIN);
    const sleeper = findThreadByName(target.pid, 'sleeper');
    expect(thread(snapshotSync(target.pid).threads, sleeper)).toMatchObject({ capture: 'blocked' });
    const strace = spawn('strace', ['-p', String(sleeper), '-o', '/dev/null'], { stdio: 'ignore' });
    const gone = new Promise((r) => strace.once('exit', r));
    try {
      await waitUntil(() => tracerPid(target.pid, sleeper) === strace.pid);
      const t = thread(snapshotSync(target.pid).threads, sleeper);
      expect(t).toMatchObject({ failure: 'failed', failureCode: 'EPERM', tracer: { pid: strace.pid } });
    } finally {
      strace.kill('SIGKILL');
      await gone;
    }
    await waitUntil(() => tracerPid(target.pid, sleeper) === 0);
    expect(thread(snapshotSync(target.pid).threads, sleeper)).toMatchObject({ capture: 'blocked' });
  });

  it('capture forces a path; one that cannot serve a thread falls back to ptrace and says why', async () => {
    const target = await startFixture('threads', 'nofp', ['--only', 'spin,sleeper'], PLAIN);
    const spin = findThreadByName(target.pid, 'spin');
    const sleeper = findThreadByName(target.pid, 'sleeper');
    const blocked = snapshotSync(target.pid, { capture: 'blocked' });
    expect(thread(blocked.threads, spin)).toMatchObject({
      capture: 'ptrace',
      captureFallback: 'running',
      complete: true,
    });
    expect(thread(blocked.threads, sleeper)).toMatchObject({ capture: 'blocked', pauseNs: 0, complete: true });
    const stopped = snapshotSync(target.pid, { capture: 'ptrace' });
    for (const t of stopped.threads) {
      expect(t.capture).toBe('ptrace');
      expect(t.captureFallback).toBeUndefined();
      expect(t.pauseNs).toBeGreaterThan(0);
    }
    expect(thread(stopped.threads, sleeper).frames.map((f) => f.pc)).toEqual(
      thread(blocked.threads, sleeper).frames.map((f) => f.pc),
    );
    // One cut across threads needs every thread stopped at once.
    for (const t of snapshotSync(target.pid, { schedule: 'consistent' }).threads) expect(t.capture).toBe('ptrace');
    expect(() => snapshotSync(target.pid, { schedule: 'consistent', capture: 'blocked' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => snapshotSync(target.pid, { capture: 'teleport' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    assertDetached(target.pid);
  });

  it('a saved capture keeps how each thread was captured, and unwinds the same later', async () => {
    const target = await startFixture('threads', 'nofp', ['--only', 'sleeper,reader'], PLAIN);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-paths-'));
    try {
      const file = path.join(dir, 'shot.json');
      const live = await captureToFile(target.pid, file);
      const later = snapshotFromFile(file);
      expect(later.threads.map((t) => [t.tid, t.capture, t.frames.map((f) => f.pc)])).toEqual(
        live.threads.map((t) => [t.tid, t.capture, t.frames.map((f) => f.pc)]),
      );
      expect(later.threads.every((t) => t.capture === 'blocked' && t.complete)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
