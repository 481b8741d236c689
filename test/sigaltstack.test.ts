// A signal handler on an alternate stack (sigaltstack), still running, that interrupted a known
// chain (test/fixtures/altstack.c): the copy taken at the stop holds only the handler's stack;
// the walk must cross the signal frame onto the interrupted stack (read from the target after
// the resume, while the handler still runs) and reach clone3, as eu-stack and gdb do.
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync, toPprof } from '../src/index';
import { decodePprof } from '../src/output/pprof';
import { compileFixture } from './helpers/fixtures';
import { findThreadByName } from './helpers/proc';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

/** The fixture's own functions, innermost first, after the handler's frames. */
const CHAIN = ['chain_c', 'chain_b', 'chain_a', 'altstack_thread'];

describe('signal handler on sigaltstack', () => {
  for (const schedule of ['rolling', 'consistent'] as const) {
    it.skipIf(!HAVE_EU_STACK || !HAVE_GDB)(
      `${schedule}: the interrupted chain follows the signal frame, equal to eu-stack and gdb (needs both)`,
      async () => {
        const target = await startTarget(compileFixture('altstack', 'nofp'));
        const tid = findThreadByName(target.pid, 'sigalt');
        const shot = snapshotSync(target.pid, { schedule });
        const t = shot.threads.find((x) => x.tid === tid)!;
        const names = t.frames.map((f) => f.symbol);
        expect(names.slice(0, 2)).toEqual([expect.stringMatching(/pause$/), 'on_signal']);
        const signal = t.frames.findIndex((f) => f.method === 'signal');
        expect(signal).toBeGreaterThan(1);
        expect(names.slice(signal, signal + CHAIN.length)).toEqual(CHAIN);
        expect(t.end).toBe('thread-entry');
        expect(t.complete).toBe(true);

        // eu-stack: every frame's pc; the names of the fixture's own frames (libc's have aliases).
        const eu = euStack(target.pid).get(tid)!;
        expect(t.frames.map((f) => f.pc)).toEqual(eu.map((f) => f.pc));
        t.frames.forEach((f, i) => {
          if (f.symbol !== null && (CHAIN.includes(f.symbol) || f.symbol === 'on_signal')) {
            expect(eu[i].name).toBe(f.symbol);
          }
        });
        // gdb prints the signal frame and the frame it interrupted without a pc: the rest match.
        const gdb = (gdbStacks(target.pid).get(tid) ?? []).filter((f) => f.pc !== null).map((f) => f.pc);
        expect(gdb.length).toBeGreaterThan(CHAIN.length);
        const ours = t.frames.map((f) => f.pc);
        for (const pc of gdb) expect(ours).toContain(pc);
      },
      60_000,
    );
  }

  it('the trampoline and the frame after the signal frame keep their exact pc, in pprof too', async () => {
    const target = await startTarget(compileFixture('altstack', 'nofp'));
    const tid = findThreadByName(target.pid, 'sigalt');
    const shot = snapshotSync(target.pid);
    const t = shot.threads.find((x) => x.tid === tid)!;
    const signal = t.frames.findIndex((f) => f.method === 'signal');
    expect(signal).toBeGreaterThan(1);
    expect(t.frames[signal].symbol).toBe('chain_c');
    // Exact: the innermost frame, the trampoline (the handler returned to its first byte) and
    // the frame the signal interrupted. Every other pc is a return address.
    const exact = t.frames.flatMap((f, i) => (f.returnAddress ? [] : [i]));
    expect(exact).toEqual([0, signal - 1, signal]);

    const p = decodePprof(toPprof({ ...shot, threads: [t] }));
    const address = new Map(p.location.map((l) => [Number(l.id), BigInt(l.address)]));
    const addresses = p.sample[0]!.locationId.map((id) => address.get(Number(id)));
    expect(addresses).toHaveLength(t.frames.length);
    expect(addresses[signal - 1]).toBe(BigInt(t.frames[signal - 1].pc));
    expect(addresses[signal]).toBe(BigInt(t.frames[signal].pc));
    expect(addresses[signal + 1]).toBe(BigInt(t.frames[signal + 1].pc) - 1n);
  }, 60_000);
});
