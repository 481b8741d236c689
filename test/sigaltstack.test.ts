// A signal handler on an alternate stack (sigaltstack), still running, that interrupted a known
// chain (test/fixtures/altstack.c): the copy taken at the stop holds only the handler's stack;
// the walk must cross the signal frame onto the interrupted stack (read from the target after
// the resume, while the handler still runs) and reach clone3, as eu-stack and gdb do.
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync } from '../src/index';
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
});
