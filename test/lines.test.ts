// Source lines (--lines): every frame of the fixture equals addr2line's file:line for the same
// lookup address (pc − 1 for return addresses); libc frames get lines from libc6-dbg.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { ElfFile, FdSource } from '../src/elf/elf-file';
import { snapshotSync } from '../src/index';
import type { Frame } from '../src/types';
import { compileFixture, type FrameVariant } from './helpers/fixtures';
import { startFixture, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

function loads(file: string) {
  const fd = fs.openSync(file, 'r');
  try {
    return new ElfFile(new FdSource(fd, fs.fstatSync(fd).size));
  } finally {
    fs.closeSync(fd);
  }
}

describe.each(['fp', 'nofp'] as FrameVariant[])('fixture built %s with -g', (variant) => {
  it("every frame's file:line equals addr2line's", async () => {
    const binary = compileFixture('threads', variant);
    const elf = loads(binary);
    const target = await startFixture('threads', variant, ['--only', 'spin,sleeper,condwait,epoller,reader']);
    const shot = snapshotSync(target.pid, { lines: true });
    const ours: string[] = [];
    const vaddrs: string[] = [];
    for (const t of shot.threads) {
      // Physical frames; addr2line without -i gives the line of the innermost call inlined at
      // the pc, which is the first of the frames sharing it (see test/inline.test.ts).
      const physical = t.frames.filter((f) => !f.inlined);
      let innermost: Frame | undefined;
      let i = 0;
      for (const f of t.frames) {
        innermost ??= f;
        if (f.inlined) continue;
        const exact = i === 0 || f.method === 'signal' || physical[i + 1]?.method === 'signal';
        i++;
        const first = innermost;
        innermost = undefined;
        if (f.module !== binary || f.moduleOffset === null || f.symbol === '_start') continue;
        const vaddr = elf.fileOffsetToVaddr(BigInt(f.moduleOffset) - (exact ? 0n : 1n));
        vaddrs.push(`0x${vaddr!.toString(16)}`);
        ours.push(`${first.file}:${first.line}`);
      }
    }
    expect(ours.length).toBeGreaterThan(30);
    const theirs = execFileSync('addr2line', ['-e', binary, ...vaddrs], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.replace(/ \(discriminator \d+\)$/, ''));
    expect(ours).toEqual(theirs);
  });
});

it('libc frames get their source lines from the debug file (libc6-dbg)', async () => {
  const target = await startFixture('threads', 'fp', ['--only', 'sleeper']);
  const sleeper = snapshotSync(target.pid, { lines: true }).threads.find((t) => t.name === 'sleeper')!;
  const start = sleeper.frames.find((f) => f.symbol === 'start_thread');
  expect(start?.file).toMatch(/pthread_create\.c$/);
  expect(start?.line).toBeGreaterThan(0);
  // Without the option, no lines (and no cost).
  expect(snapshotSync(target.pid).threads.every((t) => t.frames.every((f) => f.file === undefined))).toBe(true);
});

it('a binary first named for a process that is gone still gets its lines in the next one', async () => {
  // Modules are cached by file identity across processes; the line table is built on first use
  // and must open the file through the mapping at hand, not the first process's map_files.
  const first = await startFixture('idle', 'nofp');
  const before = snapshotSync(first.pid); // parses the module, without lines
  expect(before.threads[0].frames.some((f) => f.symbol === 'idle_wait')).toBe(true);
  await stopAllTargets();
  const second = await startFixture('idle', 'nofp');
  const frame = snapshotSync(second.pid, { lines: true }).threads[0].frames.find((f) => f.symbol === 'idle_wait');
  expect(frame?.file).toMatch(/idle\.c$/);
  expect(frame?.line).toBeGreaterThan(0);
});
