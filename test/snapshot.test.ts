// snapshot() / snapshotSync() on real processes: exact stacks through frame-pointer code, both
// schedules, end reasons, the /proc/<pid>/mem fallback, and the target left as it was.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { binding, type RawCapture } from '../src/addon';
import { ModuleRegistry } from '../src/symbolize/module-registry';
import { buildSnapshot, capture, createSymbolizer, liveOrigin } from '../src/snapshot';
import { parseMaps } from '../src/procfs/maps';
import type { Schedule } from '../src/types';
import { snapshot, snapshotSync, type Snapshot, type ThreadStack } from '../src/index';
import { compileFixture, EXPECTED_STACKS, SPIN_DEPTH_FRAMES, matchFrames } from './helpers/fixtures';
import { assertDetached, findThreadByName, threadStates } from './helpers/proc';
import { startFixture, startNode, startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

// Frame pointers alone end at start_thread (glibc has no frame pointers; start_thread is the
// thread's entry); the CFI unwinder goes on to clone3, as eu-stack does.
const SPIN_FP_STACK = ['spin_leaf', ...SPIN_DEPTH_FRAMES, 'spin_thread_main', 'start_thread'];
const SPIN_STACK = [...SPIN_FP_STACK, 'clone3'];

function thread(shot: Snapshot, tid: number): ThreadStack {
  const t = shot.threads.find((x) => x.tid === tid);
  if (!t) throw new Error(`thread ${tid} missing from snapshot: ${shot.threads.map((x) => x.tid).join(',')}`);
  return t;
}
const names = (t: ThreadStack) => t.frames.map((f) => f.symbol ?? '??');

describe('a thread spinning 20 frames deep in frame-pointer code', () => {
  for (const schedule of ['rolling', 'consistent'] as const) {
    it(`equals the expected sequence exactly (${schedule}, sync and async, both unwinders)`, async () => {
      const target = await startFixture('threads', 'fp', ['--only', 'spin']);
      const tid = findThreadByName(target.pid, 'spin');
      for (const unwind of ['fp', 'hybrid'] as const) {
        for (const shot of [
          snapshotSync(target.pid, { schedule, unwind }),
          await snapshot(target.pid, { schedule, unwind }),
        ]) {
          const spin = thread(shot, tid);
          expect(names(spin)).toEqual(unwind === 'fp' ? SPIN_FP_STACK : SPIN_STACK);
          expect(spin.end).toBe('thread-entry');
          expect(spin.complete).toBe(true);
          expect(spin.frames[0].method).toBe('regs');
          // Frame pointers only: every caller from a frame record. Hybrid: the fixture has
          // .eh_frame, so CFI everywhere.
          expect(spin.frames.slice(1).every((f) => f.method === (unwind === 'fp' ? 'fp' : 'cfi'))).toBe(true);
          expect(spin.name).toBe('spin');
          expect(spin.state).toBe('R');
          // consistent stops every thread; rolling samples a running thread with a perf event
          // where allowed (then nothing was stopped: test/perf-capture.test.ts).
          if (schedule === 'consistent') expect(spin.capture).toBe('ptrace');
          if (spin.capture === 'ptrace') expect(spin.pauseNs).toBeGreaterThan(0);
          else expect(spin.pauseNs).toBe(0);
          expect(spin.stackBytes).toBeGreaterThan(0);
          expect(shot.schedule).toBe(schedule);
          expect(shot.pid).toBe(target.pid);
          expect(shot.command).toBe('threads');
          // Frames carry their module and the return-address arithmetic: offsets inside the symbol.
          for (const f of spin.frames.slice(0, 22)) {
            expect(f.module).toMatch(/\/threads$/);
            expect(f.pc).toMatch(/^0x[0-9a-f]+$/);
            expect(f.symbolOffset).toBeGreaterThan(0);
          }
          assertDetached(target.pid);
        }
      }
    });
  }

  it('is the same through the CLI with --json', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    const tid = findThreadByName(target.pid, 'spin');
    for (const schedule of ['rolling', 'consistent']) {
      const cli = path.join(__dirname, '..', 'dist', 'cli.js');
      const out = execFileSync(process.execPath, [cli, String(target.pid), '--json', '--schedule', schedule], {
        encoding: 'utf8',
      });
      const shot = JSON.parse(out) as Snapshot;
      expect(names(thread(shot, tid))).toEqual(SPIN_STACK);
      expect(shot.schedule).toBe(schedule);
    }
    assertDetached(target.pid);
  });
});

describe('every thread of the fixture', () => {
  it('is captured with its innermost frame named, and left running in its state', async () => {
    const target = await startFixture('threads', 'fp');
    const before = threadStates(target.pid);
    const shot = snapshotSync(target.pid);
    expect(shot.threads.map((t) => t.tid).sort((a, b) => a - b)).toEqual([...before.keys()].sort((a, b) => a - b));
    for (const t of shot.threads) {
      const expected = EXPECTED_STACKS[t.tid === target.pid ? 'main' : t.name];
      expect(expected, `no expectation for thread ${t.name}`).toBeDefined();
      expect(t.failure).toBeUndefined();
      // Frame 0 comes from the registers: it is exact whatever the unwinder does next.
      expect(matchFrames(names(t).slice(0, 1), expected.slice(0, 1))).toBeNull();
      expect(t.state).toBe(before.get(t.tid));
      if (!t.complete) expect(t.end).not.toBe('thread-entry');
    }
    assertDetached(target.pid);
    // A thread resumed a moment ago is runnable until it is back in its blocking call.
    await waitFor(() => JSON.stringify([...threadStates(target.pid)]) === JSON.stringify([...before]), 2000);
  });

  it('is walked without inventing frames when frame pointers alone cannot follow it', async () => {
    const target = await startFixture('threads', 'nofp');
    const shot = snapshotSync(target.pid, { unwind: 'fp' });
    const spin = thread(shot, findThreadByName(target.pid, 'spin'));
    // Frame 0 is exact; past it %rbp is a general register here, so a frame-pointer walk must
    // end with a named reason rather than invent frames (the CFI unwinder completes these).
    expect(spin.frames[0].symbol).toBe('spin_leaf');
    expect(spin.complete).toBe(false);
    expect(spin.end).toMatch(
      /^(end-of-chain|fp-not-increasing|fp-misaligned|fp-outside-stack|cfa-outside-stack|ra-not-executable|copy-exhausted)$/,
    );
    for (const t of shot.threads) expect(t.frames.length).toBeGreaterThanOrEqual(1);
    assertDetached(target.pid);
  });
});

describe('walk limits end with a named reason', () => {
  it('max-frames and copy-exhausted', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    const tid = findThreadByName(target.pid, 'spin');
    const capped = thread(snapshotSync(target.pid, { maxFrames: 5 }), tid);
    expect(names(capped)).toEqual(SPIN_STACK.slice(0, 5));
    expect(capped.end).toBe('max-frames');
    expect(capped.complete).toBe(false);

    const short = thread(snapshotSync(target.pid, { stackBytes: 256 }), tid);
    expect(short.stackBytes).toBeLessThanOrEqual(256);
    expect(short.end).toBe('copy-exhausted');
    expect(short.frames.length).toBeLessThan(SPIN_FP_STACK.length);
    expect(names(short)).toEqual(SPIN_STACK.slice(0, short.frames.length));
  });

  it('symbolize: false gives addresses in their modules, and does not judge completeness', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    const named = thread(snapshotSync(target.pid), findThreadByName(target.pid, 'spin'));
    const spin = thread(snapshotSync(target.pid, { symbolize: false }), findThreadByName(target.pid, 'spin'));
    expect(spin.frames.length).toBe(SPIN_STACK.length);
    expect(spin.frames.every((f) => f.symbol === null && f.symbolReason === undefined)).toBe(true);
    // Module and offset come from the maps alone, as the named snapshot has them (the spinning
    // leaf moves; the callers' return addresses do not).
    const place = (f: { module: string | null; moduleOffset: string | null }) => `${f.module}+${f.moduleOffset}`;
    expect(spin.frames.slice(1).map(place)).toEqual(named.frames.slice(1).map(place));
    expect(spin.frames[0].module).toBe(named.frames[0].module);
    expect(spin.complete).toBe(false);
    expect(spin.notJudged).toBe(true);
    expect(named.notJudged).toBeUndefined();
  });
});

describe('capture mechanics', () => {
  it('reads stacks through /proc/<pid>/mem when asked, with the same frames', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    const tid = findThreadByName(target.pid, 'spin');
    const opts = { tids: [tid], consistent: false, stackBytes: 512 * 1024, stopTimeoutMs: 1000 };
    const unwound = (raw: RawCapture) => {
      const mappings = new ModuleRegistry().unwindMappings(raw.pid, raw.maps);
      return binding.unwind({
        arch: binding.arch,
        pid: raw.pid,
        maxFrames: 64,
        mappings: mappings.rows,
        loadMapping: mappings.load,
        threads: raw.threads,
      })[0];
    };
    const viaVm = unwound(binding.captureSync(target.pid, opts));
    const viaMemRaw = binding.captureSync(target.pid, { ...opts, forceProcMem: true });
    expect(viaMemRaw.threads[0].status).toBe('captured');
    expect(viaMemRaw.threads[0].stackBytes).toBeGreaterThan(0);
    const viaMem = unwound(viaMemRaw);
    // The spinning leaf's pc moves; every frame above it is the same return address.
    expect([...viaMem.pcs].slice(1)).toEqual([...viaVm.pcs].slice(1));
    expect(viaMem.pcs.length).toBe(SPIN_STACK.length);
  });

  it('captures only the threads asked for, and rejects threads of other processes', async () => {
    const target = await startFixture('threads', 'fp');
    const spin = findThreadByName(target.pid, 'spin');
    const sleeper = findThreadByName(target.pid, 'sleeper');
    const shot = snapshotSync(target.pid, { threads: [spin, sleeper] });
    expect(shot.threads.map((t) => t.tid).sort()).toEqual([spin, sleeper].sort());
    expect(() => snapshotSync(target.pid, { threads: [process.pid] })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => snapshotSync(target.pid, { schedule: 'sideways' as never })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
    expect(() => snapshotSync(target.pid, { maxFrames: 0 })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }),
    );
  });

  it('leaves a process stopped by the user stopped, and a running one running', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    process.kill(target.pid, 'SIGSTOP');
    await waitFor(() => [...threadStates(target.pid).values()].every((s) => s === 'T'));
    for (const schedule of ['rolling', 'consistent'] as const) {
      const shot = snapshotSync(target.pid, { schedule });
      expect(shot.threads.every((t) => t.failure === undefined)).toBe(true);
      await sleep(50);
      expect([...threadStates(target.pid).values()].every((s) => s === 'T')).toBe(true);
    }
    process.kill(target.pid, 'SIGCONT');
    await waitFor(() => threadStates(target.pid).get(findThreadByName(target.pid, 'spin')) === 'R');
    assertDetached(target.pid);
  });

  it('serialises concurrent snapshots of one process instead of failing one of them', async () => {
    const target = await startFixture('threads', 'fp', ['--only', 'spin']);
    const tid = findThreadByName(target.pid, 'spin');
    const shots = await Promise.all(
      Array.from({ length: 6 }, (_, i) => snapshot(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling' })),
    );
    for (const shot of shots) expect(names(thread(shot, tid))).toEqual(SPIN_STACK);
    assertDetached(target.pid);
  });

  it('reports the cost of each snapshot', async () => {
    const target = await startFixture('threads', 'fp');
    const shot = await snapshot(target.pid);
    const c = shot.cost;
    expect(c.totalNs).toBeGreaterThan(0);
    expect(c.pauseNsMax).toBe(Math.max(...shot.threads.map((t) => t.pauseNs)));
    expect(c.bytesCopied).toBe(shot.threads.reduce((s, t) => s + t.stackBytes, 0));
    expect(c.walkNs).toBeGreaterThan(0);
    expect(c.symbolizeNs).toBeGreaterThan(0);
    expect(c.totalNs).toBeGreaterThan(c.symbolizeNs);
    expect(Date.parse(shot.takenAt)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('reports the cost of parsing modules seen for the first time, and none once they are known', async () => {
    // A fresh copy of the fixture is a file no snapshot in this process has parsed yet.
    const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-cold-')), 'threads');
    fs.copyFileSync(compileFixture('threads', 'nofp'), copy);
    fs.chmodSync(copy, 0o755);
    const target = await startTarget(copy, ['--only', 'spin']);
    const first = snapshotSync(target.pid).cost;
    expect(first.modulesNs).toBeGreaterThan(0);
    expect(first.modulesNs).toBeLessThanOrEqual(first.walkNs + first.symbolizeNs);
    expect(snapshotSync(target.pid).cost.modulesNs).toBe(0);
  });

  it('parses only the modules its stacks pass through, not even the unwind tables of the others', async () => {
    const target = await startFixture('threads', 'fp');
    const registry = new ModuleRegistry();
    const symbolizer = createSymbolizer({ modules: registry });
    const origin = (pid: number, schedule: Schedule, takenAt: string) => ({
      ...liveOrigin(pid, schedule, takenAt),
      symbolizer,
    });
    const c = await capture(target.pid, {}, undefined, origin);
    const shot = buildSnapshot(c.raw, c.opts, c.started, c.origin, c.walked);
    const files = (paths: (string | null | undefined)[]) => new Set(paths.filter((p) => p?.startsWith('/') === true));
    const withFrames = files(shot.threads.flatMap((t) => t.frames.map((f) => f.module)));
    const code = files(parseMaps(c.raw.maps).map((m) => (m.perms[2] === 'x' ? m.path : undefined)));
    expect(withFrames.size).toBeGreaterThan(1); // the fixture and libc
    expect(code.size).toBeGreaterThan(withFrames.size); // ld.so has no frame
    expect(registry.stats.modulesParsed).toBe(withFrames.size);
  });

  it('reports threads that exit mid-capture as exited, never failing the snapshot', async () => {
    const target = await startFixture('exits', 'fp', ['--parallel', '4']);
    let exited = 0;
    for (let i = 0; i < 100; i++) {
      const shot = await snapshot(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling' });
      expect(shot.threads.find((t) => t.tid === target.pid)?.failure).toBeUndefined();
      for (const t of shot.threads) {
        expect([undefined, 'exited']).toContain(t.failure);
        if (t.failure === 'exited') {
          exited++;
          expect(t.end).toBe('not-captured');
          expect(t.frames).toEqual([]);
        }
      }
    }
    await sleep(20);
    assertDetached(target.pid, 200);
    expect(target.running).toBe(true);
    // Threads live for microseconds: some must have vanished between listing and stopping.
    expect(exited).toBeGreaterThan(0);
  });
});

describe('a live node process', () => {
  it('is captured on every thread and keeps running', async () => {
    // ready only once startup work is done, and the main thread asleep in its event loop.
    const target = await startNode("setInterval(() => {}, 1000); setTimeout(() => console.log('ready'), 300);", [], {
      mainBlocked: true,
    });
    const shot = await snapshot(target.pid);
    expect(shot.command).toBe('node');
    expect(shot.threads.length).toBeGreaterThanOrEqual(5);
    for (const t of shot.threads) {
      expect(t.failure).toBeUndefined();
      expect(t.frames.length).toBeGreaterThanOrEqual(1);
      expect(t.frames[0].module).not.toBeNull();
    }
    const main = thread(shot, target.pid);
    expect(main.frames[0].symbol).toMatch(/epoll_p?wait/);
    assertDetached(target.pid);
    expect(target.running).toBe(true);
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
