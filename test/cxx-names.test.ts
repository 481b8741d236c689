// C++ names (issue 14 point 8). The convention: a physical frame is named as `nm -C` and
// eu-stack name its ELF symbol (binutils' demangler: full signatures, `main::{lambda()#2}`,
// `[clone .isra.0]`, `[clone .cold]`); an inlined frame (with `lines`) by its demangled
// DW_AT_linkage_name where DWARF gives one, else by its DWARF name qualified with its
// namespaces and classes, as gdb prints it (`std::__invoke_impl<void, main()::<lambda()> >`).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync, type ThreadStack } from '../src/index';
import { buildCached, FIXTURES_DIR } from './helpers/fixtures';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB, type OracleFrame } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';
import { threadIds, threadState } from './helpers/proc';

afterEach(async () => {
  await stopAllTargets();
});

function build(debug: boolean): string {
  const src = path.join(FIXTURES_DIR, 'cxx_names.cc');
  const version = execFileSync('g++', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  const name = debug ? 'cxx_names-g' : 'cxx_names';
  return buildCached(name, [version, name, fs.readFileSync(src)], (tmp) => {
    execFileSync('g++', ['-O2', '-pthread', ...(debug ? ['-g'] : []), '-o', tmp, src]);
  });
}

/** Starts the fixture and waits until its four threads block. */
async function blocked(binary: string): Promise<number> {
  const target = await startTarget(binary, [], { mainBlocked: true });
  for (let i = 0; ; i++) {
    const tids = threadIds(target.pid);
    if (tids.length === 4 && tids.every((t) => threadState(target.pid, t) === 'S')) return target.pid;
    if (i > 1000) throw new Error('the fixture threads never blocked');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('C++ names', () => {
  it.skipIf(!HAVE_EU_STACK)(
    'physical frames carry the names eu-stack and nm -C give the symbols (needs eu-stack)',
    async () => {
      const binary = build(false);
      const pid = await blocked(binary);
      const threads = snapshotSync(pid).threads;
      const eu = euStack(pid);
      const seen: string[] = [];
      for (const t of threads) {
        const ours = t.frames.filter((f) => f.module === binary).map((f) => ({ pc: f.pc, name: f.symbol }));
        const pcs = new Set(ours.map((f) => f.pc));
        const theirs = (eu.get(t.tid) ?? []).filter((f) => f.pc !== null && pcs.has(f.pc));
        expect(ours, `thread ${t.tid}`).toEqual(theirs);
        seen.push(...ours.map((f) => f.name ?? ''));
      }
      // The fixture reaches every form the convention has to get right.
      for (const form of [
        'std::thread::_State_impl<std::thread::_Invoker<std::tuple<main::{lambda()#2}> > >::_M_run()',
        'shapes::Box<long>::wait(long, char const*) [clone .isra.0]',
        'shapes::rare(int) [clone .cold]',
        'shapes::(anonymous namespace)::hidden(double)',
        'shapes::overload(long, char)',
      ]) {
        expect(seen).toContain(form);
      }
    },
  );

  it.skipIf(!HAVE_GDB)(
    'with lines, inlined frames are named as gdb names them, namespaces and classes included (needs gdb)',
    async () => {
      const binary = build(true);
      const pid = await blocked(binary);
      const threads = snapshotSync(pid, { lines: true }).threads;
      const gdb = gdbStacks(pid);
      let compared = 0;
      for (const t of threads) {
        const groups = inlinedGroups(gdb.get(t.tid) ?? []);
        for (const [pc, names] of inlinedOf(t, binary)) {
          expect(names, `inlined at ${pc}`).toEqual(groups.get(pc));
          compared += names.length;
        }
      }
      expect(compared).toBeGreaterThanOrEqual(10); // two lambdas, five inlined calls each
      const all = threads.flatMap((t) => t.frames.filter((f) => f.inlined).map((f) => f.symbol));
      expect(all).toContain('std::__invoke_impl<void, main()::<lambda()> >');
      expect(all).toContain('std::thread::_Invoker<std::tuple<main()::<lambda()> > >::_M_invoke<0>');
    },
  );
});

/** Our inlined frames in `module` (the C++ fixture), by the pc they share with their physical frame. */
function inlinedOf(t: ThreadStack, module: string): Map<string, (string | null)[]> {
  const out = new Map<string, (string | null)[]>();
  for (const f of t.frames) {
    if (!f.inlined || f.module !== module) continue;
    out.set(f.pc, [...(out.get(f.pc) ?? []), f.symbol]);
  }
  return out;
}

/**
 * gdb's inlined frames by pc: gdb prints the innermost frame at a pc with its address and the
 * frames inlined around it, then the physical one, without; all but that last were inlined.
 */
function inlinedGroups(frames: OracleFrame[]): Map<string, (string | null)[]> {
  const out = new Map<string, (string | null)[]>();
  for (let i = 0; i < frames.length; i++) {
    if (frames[i].pc === null) continue;
    let end = i + 1;
    while (end < frames.length && frames[end].pc === null) end++;
    if (end - i > 1)
      out.set(
        frames[i].pc!,
        frames.slice(i, end - 1).map((f) => f.name),
      );
    i = end - 1;
  }
  return out;
}
