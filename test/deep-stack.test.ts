// A thread with about 800 KiB of stack (test/fixtures/deep.c), more than the default 512 KiB
// copy: with default options the walk reads on from the target past the copy (validated: the
// copy's last page must be unchanged) and the stack is complete, equal to eu-stack's and gdb's.
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync } from '../src/index';
import { compileFixture } from './helpers/fixtures';
import { findThreadByName } from './helpers/proc';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

describe('a stack deeper than the copy', () => {
  it.skipIf(!HAVE_EU_STACK || !HAVE_GDB)(
    'is complete with default options, equal to eu-stack and gdb (needs both)',
    async () => {
      const target = await startTarget(compileFixture('deep', 'nofp'));
      const tid = findThreadByName(target.pid, 'digger');
      const shot = snapshotSync(target.pid);
      const t = shot.threads.find((x) => x.tid === tid)!;
      expect(t.stackBytes).toBeLessThanOrEqual(512 * 1024); // the pause paid for the default copy only
      expect(t.end).toBe('thread-entry');
      expect(t.complete).toBe(true);
      expect(t.frames.filter((f) => f.symbol === 'descend')).toHaveLength(401);
      // eu-stack prints at most 256 frames by default: its frames are our first 256.
      const eu = euStack(target.pid)
        .get(tid)!
        .map((f) => f.pc);
      expect(eu.length).toBeGreaterThan(200);
      expect(t.frames.slice(0, eu.length).map((f) => f.pc)).toEqual(eu);
      // gdb lists them all: the same return addresses to the end (its frame 0 may lack a pc).
      const gdb = gdbStacks(target.pid)
        .get(tid)!
        .map((f) => f.pc);
      expect(gdb.slice(1)).toEqual(t.frames.slice(1).map((f) => f.pc));
    },
  );
});
