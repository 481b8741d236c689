// Go programs, against eu-stack and gdb: a Go binary carries .debug_frame and no .eh_frame, its
// runtime's assembly leaves (runtime.futex, runtime.epollwait) keep no frame record, and its
// threads start in runtime.clone / runtime.mstart and its goroutines in runtime.goexit, not in
// libc. Every thread of test/fixtures/gostacks.go (netpoller, futexes, a thread locked to a
// goroutine blocked on a channel, a spinner) must be complete and equal eu-stack's frames
// (pc and name) up to its entry; gdb's return addresses must agree too.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync, type Snapshot } from '../src/index';
import { buildCached, FIXTURES_DIR } from './helpers/fixtures';
import { threadStates } from './helpers/proc';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB, type OracleFrame } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

const HAVE_GO = have('go');
const SOURCE = path.join(FIXTURES_DIR, 'gostacks.go');

afterEach(async () => {
  await stopAllTargets();
});

function buildGo(): string {
  const version = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  return buildCached('gostacks', [version, fs.readFileSync(SOURCE)], (tmp) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off' };
    delete env.LD_PRELOAD;
    execFileSync('go', ['build', '-o', tmp, SOURCE], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Ours {
  pc: string;
  name: string | null;
}

/** Our frames per thread, as the oracle's shape. */
function ourFrames(shot: Snapshot): Map<number, Ours[]> {
  return new Map(shot.threads.map((t) => [t.tid, t.frames.map((f) => ({ pc: f.pc, name: f.symbol }))]));
}

/** Where our thread differs from eu-stack's: frame 0 of a running thread is compared by name only. */
function diff(ours: Ours[], eu: OracleFrame[], running: boolean): string | null {
  for (let i = 0; i < ours.length; i++) {
    const e = eu[i];
    if (e === undefined) return `frame ${i}: eu-stack has no frame (ours ${ours[i].pc} ${ours[i].name})`;
    if ((!running || i > 0) && e.pc !== ours[i].pc) return `frame ${i}: pc ${ours[i].pc} vs ${e.pc}`;
    if (e.name !== ours[i].name) return `frame ${i}: ${ours[i].name} vs ${e.name}`;
  }
  return null;
}

describe('Go stacks', () => {
  it.skipIf(!HAVE_GO || !HAVE_EU_STACK || !HAVE_GDB)(
    'every thread is complete and equals eu-stack and gdb up to its entry (needs go, eu-stack, gdb)',
    async () => {
      const target = await startTarget(buildGo());
      const pid = target.pid;
      // Until the runtime has settled: every thread but the spinner asleep.
      for (let i = 0; ; i++) {
        const states = [...threadStates(pid).values()];
        if (states.length >= 5 && states.filter((s) => s === 'R').length <= 1) break;
        if (i > 500) throw new Error(`threads never settled: ${states.join('')}`);
        await sleep(10);
      }
      // A thread may change its wait between our capture and eu-stack's (sysmon wakes up):
      // retake both until one round agrees, and report the last difference otherwise.
      let last = '';
      for (let attempt = 0; attempt < 10; attempt++) {
        const shot = snapshotSync(pid);
        const eu = euStack(pid);
        const ours = ourFrames(shot);
        const problems: string[] = [];
        for (const t of shot.threads) {
          if (!t.complete) problems.push(`${t.tid}: incomplete (${t.end})`);
          const d = diff(ours.get(t.tid)!, eu.get(t.tid) ?? [], t.state === 'R');
          if (d !== null) problems.push(`${t.tid}: ${d}`);
        }
        last = problems.join('\n');
        if (problems.length > 0) continue;
        // The kinds of wait the fixture sets up are all there.
        const names = shot.threads.flatMap((t) => t.frames.map((f) => f.symbol));
        for (const want of ['runtime.netpoll', 'runtime.futexsleep', 'main.spin', 'runtime.goexit.abi0']) {
          expect(names).toContain(want);
        }
        // gdb: the same return addresses (it names from DWARF, without `.abi0`; it adds inline frames
        // without an address, skipped here). Threads that moved since are retaken with the rest.
        const gdb = gdbStacks(pid);
        const gdbProblems: string[] = [];
        for (const t of shot.threads) {
          if (t.state === 'R') continue;
          // gdb prints a frame 0 stopped at the start of a line (a syscall's return) without its pc.
          let theirs = (gdb.get(t.tid) ?? []).filter((f) => f.pc !== null).map((f) => f.pc);
          const mine = t.frames.map((f) => f.pc);
          if (theirs[0] === mine[0]) theirs = theirs.slice(1);
          if (theirs.slice(0, mine.length - 1).join() !== mine.slice(1).join()) {
            gdbProblems.push(`${t.tid}: ours ${mine.join(' ')} gdb ${theirs.join(' ')}`);
          }
        }
        last = gdbProblems.join('\n');
        if (gdbProblems.length === 0) return;
      }
      throw new Error(`no capture agreed with eu-stack and gdb in 10 tries; last:\n${last}`);
    },
    120_000,
  );
});
