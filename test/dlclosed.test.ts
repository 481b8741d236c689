// A return address into a library that was dlclose'd since the call (test/fixtures/dlclosed.c):
// the frame is kept (pc, no module, no name, a reason) and the walk ends there, as eu-stack and
// gdb list it (`?? 0x7f…`) and stop.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync } from '../src/index';
import { buildCached, fixtureSource } from './helpers/fixtures';
import { findThreadByName } from './helpers/proc';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const FLAGS = ['-O1', '-g', '-fno-optimize-sibling-calls'];

function build(): { binary: string; lib: string } {
  const src = fixtureSource('dlclosed');
  const libSrc = fixtureSource('dlclosed_lib');
  const key = [
    execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }),
    fs.readFileSync(src),
    fs.readFileSync(libSrc),
  ];
  const binary = buildCached('dlclosed', key, (tmp) =>
    execFileSync('gcc', [...FLAGS, '-pthread', '-o', tmp, src, '-ldl']),
  );
  const lib = buildCached('libdlclosed.so', key, (tmp) =>
    execFileSync('gcc', [...FLAGS, '-fPIC', '-shared', '-o', tmp, libSrc]),
  );
  return { binary, lib };
}

describe("a return address into a dlclose'd library", () => {
  it.skipIf(!HAVE_EU_STACK || !HAVE_GDB)(
    'keeps the frame, unnamed, and ends there, as eu-stack and gdb (needs both)',
    async () => {
      const { binary, lib } = build();
      const target = await startTarget(binary, [lib]);
      const tid = findThreadByName(target.pid, 'gonelib');
      expect(fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toContain(path.basename(lib));
      const t = snapshotSync(target.pid).threads.find((x) => x.tid === tid)!;
      expect(t.frames.map((f) => f.symbol)).toEqual([expect.stringMatching(/pause$/), 'wait_forever', null]);
      const gone = t.frames[2];
      expect(gone).toMatchObject({ method: 'cfi', module: null, symbol: null });
      expect(gone.symbolReason).toBeTruthy();
      expect(t.end).toBe('ra-not-executable');
      expect(t.complete).toBe(false);
      expect(t.frames.map((f) => f.pc)).toEqual(
        euStack(target.pid)
          .get(tid)!
          .map((f) => f.pc),
      );
      const gdb = gdbStacks(target.pid)
        .get(tid)!
        .map((f) => f.pc);
      expect(gdb.slice(0, 3)).toEqual(t.frames.map((f) => f.pc));
    },
  );
});
