// Code with neither CFI nor frame pointers (issue 14 point 7): the spinning leaf of
// test/fixtures/nocfi.c, stripped of .eh_frame, is walked by scanning the stack for validated
// return addresses (method 'scan'). Oracle: eu-stack on the same code built with its CFI (the
// same .text bytes, so the same return addresses). Not gdb: its prologue analysis finds these
// frames too, but with stale words of the frames taken for frames between them
// (`_IO_new_file_sync`, `spin`, `??` between level3 and level1), and some stops lose level1.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync, type ThreadStack } from '../src/index';
import { buildCached, fixtureSource } from './helpers/fixtures';
import { euStack, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const X86_64 = process.arch === 'x64';
const CHAIN = ['spin', 'level3', 'level2', 'level1', 'main'];
const LIBC_START = [/^__libc_start_call_main$/, /^__libc_start_main/, /^_start$/];

/** The fixture without unwind tables (`cfi` false), or the same code with them (the oracle's). */
function build(cfi: boolean): string {
  const src = fixtureSource('nocfi');
  const version = execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  const name = cfi ? 'nocfi-twin' : 'nocfi';
  return buildCached(name, [version, name, fs.readFileSync(src)], (tmp) => {
    const flags = ['-O1', '-pthread', '-fomit-frame-pointer', '-fno-optimize-sibling-calls'];
    if (cfi) {
      execFileSync('gcc', [...flags, '-fasynchronous-unwind-tables', '-o', tmp, src]);
      return;
    }
    execFileSync('gcc', [...flags, '-fno-asynchronous-unwind-tables', '-fno-unwind-tables', '-o', `${tmp}.full`, src]);
    execFileSync('objcopy', ['--remove-section=.eh_frame', '--remove-section=.eh_frame_hdr', `${tmp}.full`, tmp]);
    fs.rmSync(`${tmp}.full`);
  });
}

function section(file: string, name: string): Buffer {
  const out = `${file}.${name.slice(1)}.${process.pid}`;
  execFileSync('objcopy', ['-O', 'binary', `--only-section=${name}`, file, out]);
  try {
    return fs.readFileSync(out);
  } finally {
    fs.rmSync(out);
  }
}

/** Starts the fixture and waits until its main thread spins and its other thread sleeps. */
async function spinning(binary: string): Promise<number> {
  const target = await startTarget(binary);
  for (let i = 0; ; i++) {
    const shot = snapshotSync(target.pid);
    const main = mainThread(shot.threads, target.pid);
    const other = waiterThread(shot.threads, target.pid);
    if (main.frames[0]?.symbol === 'spin' && other?.frames[0]?.symbol === 'pause') return target.pid;
    if (i > 200) throw new Error('the fixture never reached spin and pause');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const mainThread = (threads: ThreadStack[], pid: number): ThreadStack => threads.find((t) => t.tid === pid)!;
const waiterThread = (threads: ThreadStack[], pid: number): ThreadStack | undefined =>
  threads.find((t) => t.tid !== pid);

function names(t: ThreadStack): (string | null)[] {
  return t.frames.map((f) => f.symbol);
}

describe.skipIf(!X86_64)('stack scanning (x86-64 only: aarch64 scans not yet)', () => {
  it('the fixture has no unwind tables, and the same code as its twin with them', () => {
    const bare = build(false);
    const headers = execFileSync('readelf', ['-SW', bare], { encoding: 'utf8' });
    expect(headers).not.toMatch(/\.eh_frame|\.debug_frame/);
    expect(section(bare, '.text').equals(section(build(true), '.text'))).toBe(true);
  });

  it('finds the whole chain of a spinner without CFI or frame pointers, complete at _start', async () => {
    const pid = await spinning(build(false));
    const t = mainThread(snapshotSync(pid).threads, pid);
    expect(names(t).slice(0, CHAIN.length)).toEqual(CHAIN);
    const rest = names(t).slice(CHAIN.length);
    expect(rest).toHaveLength(LIBC_START.length);
    rest.forEach((n, i) => expect(n).toMatch(LIBC_START[i]));
    // Every caller of a function in the bare executable was found by the scan (libc's own
    // __libc_start_call_main included); the callers of libc's functions, by libc's CFI.
    expect(t.frames.map((f) => f.method)).toEqual(['regs', 'scan', 'scan', 'scan', 'scan', 'scan', 'cfi', 'cfi']);
    expect(t.end).toBe('thread-entry');
    expect(t.complete).toBe(true);
  });

  it('finds the chain of a thread blocked in libc under such code, complete at clone3', async () => {
    const pid = await spinning(build(false));
    const t = waiterThread(snapshotSync(pid).threads, pid)!;
    expect(names(t)).toEqual(['pause', 'wait2', 'wait1', 'waiter', 'start_thread', 'clone3']);
    expect(t.frames.map((f) => f.method)).toEqual(['regs', 'cfi', 'scan', 'scan', 'scan', 'cfi']);
    expect(t.complete).toBe(true);
  });

  it.skipIf(!HAVE_EU_STACK)(
    'its return addresses are the ones eu-stack finds in the twin with CFI (needs eu-stack)',
    async () => {
      const bare = build(false);
      const twin = build(true);
      const oursPid = await spinning(bare);
      const ours = snapshotSync(oursPid).threads;
      const twinPid = await spinning(twin);
      const eu = euStack(twinPid);
      const twinShot = snapshotSync(twinPid, { stackScan: false }).threads;
      const offsets = (t: ThreadStack, exe: string) =>
        t.frames.slice(1).map((f) => `${f.module === exe ? 'exe' : f.module}:${f.moduleOffset}`);
      for (const pick of [mainThread, waiterThread]) {
        const theirs = pick(twinShot, twinPid)!;
        // The twin is walked by CFI, as eu-stack walks it (frame 0 may move on between the two).
        expect(
          eu
            .get(theirs.tid)!
            .slice(1)
            .map((f) => f.pc),
        ).toEqual(theirs.frames.slice(1).map((f) => f.pc));
        expect(offsets(pick(ours, oursPid)!, bare)).toEqual(offsets(theirs, twin));
      }
    },
  );

  it('stackScan: false (and unwind: fp) end the walk at the frame without CFI', async () => {
    const pid = await spinning(build(false));
    for (const options of [{ stackScan: false }, { unwind: 'fp' as const }]) {
      const t = mainThread(snapshotSync(pid, options).threads, pid);
      expect(t.frames.every((f) => f.method !== 'scan')).toBe(true);
      expect(t.frames.map((f) => f.symbol).slice(0, 2)).not.toEqual(['spin', 'level3']);
      expect(t.complete).toBe(false);
    }
  });
});
