// Stacks that reach the ELF entry point (e_entry) are complete even where nothing names it: a
// stripped executable (our fixture, and Debian's /usr/bin/sleep), equal to eu-stack frame by
// frame. The entry function's extent: _start's own symbol where there is one (readelf agrees).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { entryFunction } from '../src/elf/entry-function';
import { BufferSource, ElfFile } from '../src/elf/elf-file';
import { SymbolTable, symbolSources } from '../src/elf/symbols';
import { snapshotSync } from '../src/index';
import { buildCached, fixtureSource } from './helpers/fixtures';
import { threadState } from './helpers/proc';
import { euStack, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

function build(strip: boolean): string {
  const src = fixtureSource('stripped');
  const version = execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  return buildCached(strip ? 'stripped' : 'unstripped', [version, String(strip), fs.readFileSync(src)], (tmp) => {
    execFileSync('gcc', ['-O1', '-fno-optimize-sibling-calls', '-o', tmp, src]);
    if (strip) execFileSync('strip', ['--strip-all', tmp]);
  });
}

const SLEEP = '/usr/bin/sleep';
const sleepIsStripped = (() => {
  try {
    return !execFileSync('readelf', ['-S', SLEEP], { encoding: 'utf8' }).includes('.symtab');
  } catch {
    return false;
  }
})();

async function expectCompleteLikeEuStack(binary: string, args: string[]): Promise<void> {
  const target = await startTarget(binary, args, { mainBlocked: true });
  expectSameAsEuStack(target.pid, binary);
}

function expectSameAsEuStack(pid: number, binary: string): void {
  const t = snapshotSync(pid).threads[0];
  expect(t.end).toBe('thread-entry');
  expect(t.complete).toBe(true);
  const last = t.frames[t.frames.length - 1];
  expect(last.symbol).toBeNull(); // stripped: the entry has no name, only its place
  expect(last.module).toBe(binary);
  const eu = euStack(pid).get(pid)!;
  expect(t.frames.map((f) => f.pc)).toEqual(eu.map((f) => f.pc));
}

describe('the ELF entry point ends a stack', () => {
  it.skipIf(!HAVE_EU_STACK)(
    'a stripped executable is complete at its entry, as eu-stack (needs eu-stack)',
    async () => {
      await expectCompleteLikeEuStack(build(true), []);
    },
  );

  it.skipIf(!HAVE_EU_STACK || !sleepIsStripped)(
    `${SLEEP} (stripped) is complete at its entry, as eu-stack (needs eu-stack, a stripped sleep)`,
    async () => {
      // sleep prints nothing: a shell says ready, then becomes sleep (same pid) and blocks.
      const target = await startTarget('/bin/sh', ['-c', `echo ready; exec ${SLEEP} 1000`]);
      for (
        let i = 0;
        fs.readlinkSync(`/proc/${target.pid}/exe`) !== SLEEP || threadState(target.pid, target.pid) !== 'S';
        i++
      ) {
        if (i > 1000) throw new Error('sleep never started and blocked');
        await new Promise((r) => setTimeout(r, 5));
      }
      expectSameAsEuStack(target.pid, SLEEP);
    },
  );

  it("the entry function is _start's symbol where it is sized; in the stripped file, up to the next FDE", () => {
    const full = new ElfFile(new BufferSource(fs.readFileSync(build(false))));
    const sym = execFileSync('readelf', ['-sW', build(false)], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.trim().split(/\s+/))
      .find((c) => c[7] === '_start')!;
    const start = BigInt(`0x${sym[1]}`);
    expect(entryFunction(full, new SymbolTable(symbolSources(full)))).toEqual({
      start,
      end: start + BigInt(sym[2]),
    });
    const stripped = new ElfFile(new BufferSource(fs.readFileSync(build(true))));
    const range = entryFunction(stripped, new SymbolTable(symbolSources(stripped)))!;
    expect(range.start).toBe(start);
    expect(range.end > start && range.end <= start + 64n).toBe(true);
  });
});
