// explain(pid) / `stackshot <pid> --explain`: one capture unwound twice (hybrid and fp-only),
// compared thread by thread, on real processes.
import { afterEach, describe, expect, it } from 'vitest';

import { compareThread, explain, explainSnapshots } from '../src/audit/explain';
import type { ExplainReport, ExplainThread } from '../src/audit/types';
import { formatExplain, formatExplainText, runExplain } from '../src/cli/explain';
import type { Frame, Snapshot, ThreadStack } from '../src/types';
import { findThreadByName } from './helpers/proc';
import { startFixture, startNode, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const LIBC = /\/libc\.so\.6$/;

function byTid(r: ExplainReport, tid: number): ExplainThread {
  const t = r.threads.find((x) => x.tid === tid);
  if (t === undefined) throw new Error(`no thread ${tid} in ${JSON.stringify(r.threads.map((x) => x.tid))}`);
  return t;
}

describe('explain on an idle node process', () => {
  it('names libc as the breaker on every blocked thread and reports every thread recovered', async () => {
    const t = await startNode("setInterval(()=>{},1000); setTimeout(()=>console.log('ready'),300)", [], {
      mainBlocked: true,
    });
    const r = await explain(t.pid);
    expect(r.pid).toBe(t.pid);
    expect(r.total).toBeGreaterThanOrEqual(5); // main + 4 libuv workers + V8 platform threads
    for (const th of r.threads) {
      expect(th.status, JSON.stringify(th)).toBe('cut-short');
      expect(th.brokeAt?.module, JSON.stringify(th)).toMatch(LIBC);
      expect(th.brokeAt?.index).toBe(0); // the innermost frame: glibc uses %rbp as data there
      expect(th.missed).not.toBeNull();
      expect(th.recovered, JSON.stringify(th)).toBe(true);
      expect(th.hybrid.complete).toBe(true);
      expect(th.fp.complete).toBe(false);
    }
    const main = byTid(r, t.pid);
    expect(main.brokeAt?.symbol).toMatch(/epoll_(p)?wait/);
    expect(main.missed?.module).toMatch(/\/node$/);
    expect(r.cutShort).toBe(r.total);
    expect(r.recovered).toBe(r.total);
    expect(r.breakers).toEqual([{ module: expect.stringMatching(LIBC), threads: r.total }]);
    expect(r.summary).toBe(
      `${r.total} of ${r.total} threads would be cut short by a frame-pointer-only profiler (perf --call-graph fp); stackshot recovered ${r.total}`,
    );

    const text = formatExplainText(r);
    expect(text).toContain(r.summary);
    expect(text).toMatch(/broke at {2}#0 epoll_p?wait {2}\(.*libc\.so\.6\)/);
    expect(JSON.parse(formatExplain(r, { json: true }))).toEqual(r);
  });
});

describe('explain on the threads fixture built with frame pointers', () => {
  it('spin is intact; sleeper, epoller, reader skip frames; condwait and main are cut short in libc and recovered', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin,sleeper,condwait,epoller,reader']);
    let out = '';
    expect(await runExplain(t.pid, { json: true }, (s) => (out += s))).toBe(0);
    const r = JSON.parse(out) as ExplainReport;
    const th = (name: string) => byTid(r, findThreadByName(t.pid, name));

    expect(th('spin').status).toBe('intact');
    expect(th('spin').brokeAt).toBeNull();

    // The syscall wrappers leave %rbp alone, so the chain survives; but the walk starts in libc
    // while %rbp still points at the caller's caller, so the caller is skipped (docs/DESIGN.md).
    for (const [name, leaf, missed] of [
      ['sleeper', /clock_nanosleep/, /nanosleep/],
      ['epoller', /epoll_wait/, /^wait_epoll$/],
      ['reader', /read$/, /^read_pipe$/],
    ] as const) {
      const x = th(name);
      expect(x.status, `${name}: ${JSON.stringify(x)}`).toBe('skipped-frames');
      expect(x.fp.complete).toBe(true);
      expect(x.brokeAt?.module).toMatch(LIBC);
      expect(x.brokeAt?.symbol).toMatch(leaf);
      expect(x.missed?.symbol).toMatch(missed);
    }
    // pthread_cond_wait: glibc uses %rbp as a general register; sigsuspend: misaligned chain.
    for (const name of ['condwait', 'threads']) {
      const x = th(name);
      expect(x.status, `${name}: ${JSON.stringify(x)}`).toBe('cut-short');
      expect(x.brokeAt?.module).toMatch(LIBC);
      expect(x.brokeAt?.index).toBe(0);
      expect(x.recovered).toBe(true);
    }
    expect(r.cutShort).toBe(2);
    expect(r.recovered).toBe(2);
    expect(r.skippedFrames).toBe(3);
    expect(r.breakers).toEqual([{ module: expect.stringMatching(LIBC), threads: 5 }]);
    expect(r.summary).toBe(
      '2 of 6 threads would be cut short by a frame-pointer-only profiler (perf --call-graph fp); stackshot recovered 2; 3 more threads would lose frames in the middle',
    );
  });

  it('without frame pointers the breaker is the program itself where it runs its own code', async () => {
    const t = await startFixture('threads', 'nofp', ['--only', 'spin']);
    const r = await explain(t.pid);
    const spin = byTid(r, findThreadByName(t.pid, 'spin'));
    expect(spin.status).toBe('cut-short');
    expect(spin.brokeAt?.module).toMatch(/\/threads$/);
    expect(spin.recovered).toBe(true);
  });
});

describe('compareThread (pure)', () => {
  const f = (pc: number, symbol: string, module = '/lib/libx.so'): Frame => ({
    pc: `0x${pc.toString(16)}`,
    method: 'fp',
    returnAddress: true,
    module,
    moduleOffset: '0x0',
    symbol,
    symbolOffset: 0,
  });
  const stack = (frames: Frame[], complete: boolean): ThreadStack => ({
    tid: 7,
    name: 't',
    state: 'S',
    frames,
    end: complete ? 'thread-entry' : 'end-of-chain',
    complete,
    pauseNs: 0,
    capture: 'ptrace',
    stackBytes: 0,
  });
  const A = f(1, 'a');
  const B = f(2, 'b', '/bin/app');
  const C = f(3, 'start_thread');

  it('classifies intact, cut short, skipped frames and not captured', () => {
    expect(compareThread(stack([A, B, C], true), stack([A, B, C], true)).status).toBe('intact');
    const cut = compareThread(stack([A], false), stack([A, B, C], true));
    expect(cut).toMatchObject({
      status: 'cut-short',
      recovered: true,
      brokeAt: { index: 0, symbol: 'a' },
      missed: { index: 1, symbol: 'b', module: '/bin/app' },
    });
    expect(compareThread(stack([A, C], true), stack([A, B, C], true))).toMatchObject({
      status: 'skipped-frames',
      brokeAt: { symbol: 'a' },
      missed: { symbol: 'b' },
    });
    expect(compareThread(stack([A], false), stack([A, B], false))).toMatchObject({
      status: 'cut-short',
      recovered: false,
    });
    const failed = { ...stack([], false), failure: 'exited' as const };
    expect(compareThread(failed, failed).status).toBe('not-captured');
  });

  // Each row: the fp walk's and the hybrid walk's frames (by letter) and completeness, and the
  // verdict with the last common frame (brokeAt) and the first one fp missed, as indexes.
  const table: {
    name: string;
    fp: [Frame[], boolean];
    hybrid: [Frame[], boolean];
    status: string;
    brokeAt: number | null;
    missed: number | null;
    recovered: boolean;
  }[] = [
    {
      name: 'same frames',
      fp: [[A, B, C], true],
      hybrid: [[A, B, C], true],
      status: 'intact',
      brokeAt: null,
      missed: null,
      recovered: true,
    },
    {
      name: 'fp stops at an earlier entry frame',
      fp: [[A, C], true],
      hybrid: [[A, C, C], true],
      status: 'intact',
      brokeAt: null,
      missed: null,
      recovered: true,
    },
    {
      name: 'fp cut short, hybrid complete',
      fp: [[A], false],
      hybrid: [[A, B, C], true],
      status: 'cut-short',
      brokeAt: 0,
      missed: 1,
      recovered: true,
    },
    {
      name: 'both cut short',
      fp: [[A], false],
      hybrid: [[A, B], false],
      status: 'cut-short',
      brokeAt: 0,
      missed: 1,
      recovered: false,
    },
    {
      name: 'fp broke at the first frame',
      fp: [[B], false],
      hybrid: [[A, B, C], true],
      status: 'cut-short',
      brokeAt: null,
      missed: 0,
      recovered: true,
    },
    {
      name: 'fp jumped over a frame',
      fp: [[A, C], true],
      hybrid: [[A, B, C], true],
      status: 'skipped-frames',
      brokeAt: 0,
      missed: 1,
      recovered: true,
    },
    {
      name: 'fp complete, hybrid not: nothing to blame',
      fp: [[A, C], true],
      hybrid: [[A, B], false],
      status: 'intact',
      brokeAt: null,
      missed: null,
      recovered: false,
    },
    {
      name: 'hybrid cut short, fp too: the common prefix is all',
      fp: [[A, B], false],
      hybrid: [[A, B], false],
      status: 'cut-short',
      brokeAt: 1,
      missed: null,
      recovered: false,
    },
  ];
  it.each(table)('table: $name', ({ fp, hybrid, status, brokeAt, missed, recovered }) => {
    const h = stack(...hybrid);
    const out = compareThread(stack(...fp), h);
    expect(out.status).toBe(status);
    expect(out.recovered).toBe(recovered);
    expect(out.brokeAt?.index ?? null).toBe(brokeAt);
    expect(out.missed?.index ?? null).toBe(missed);
    if (out.brokeAt !== null) expect(out.brokeAt.pc).toBe(h.frames[out.brokeAt.index]!.pc);
    if (out.missed !== null) expect(out.missed.pc).toBe(h.frames[out.missed.index]!.pc);
    expect(out).toMatchObject({ fp: { frames: fp[0].length }, hybrid: { frames: hybrid[0].length } });
  });

  it('a thread either walk failed to capture is not judged', () => {
    const failed = { ...stack([], false), failure: 'exited' as const };
    expect(compareThread(failed, stack([A], true))).toMatchObject({
      status: 'not-captured',
      brokeAt: null,
      missed: null,
    });
    expect(compareThread(stack([A], true), failed)).toMatchObject({
      status: 'not-captured',
      brokeAt: null,
      missed: null,
    });
  });

  it('summarizes', () => {
    const shot = (threads: ThreadStack[]): Snapshot => ({
      version: 1,
      pid: 7,
      command: 'x',
      schedule: 'rolling',
      takenAt: '',
      threads,
      cost: { totalNs: 0, pauseNsMax: 0, walkNs: 0, symbolizeNs: 0, modulesNs: 0, bytesCopied: 0 },
    });
    const r = explainSnapshots(shot([stack([A], false)]), shot([stack([A, B, C], true)]));
    expect(r.summary).toBe(
      '1 of 1 thread would be cut short by a frame-pointer-only profiler (perf --call-graph fp); stackshot recovered 1',
    );
    expect(r.breakers).toEqual([{ module: '/lib/libx.so', threads: 1 }]);
  });
});
