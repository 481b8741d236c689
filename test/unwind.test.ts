// Complete stacks where frame pointers are missing: the hybrid unwinder (CFI where a module has
// .eh_frame, frame pointers elsewhere) against eu-stack, the completeness reference.
import { afterEach, describe, expect, it } from 'vitest';

import { snapshotSync, type Snapshot, type ThreadStack } from '../src/index';
import { EXPECTED_STACKS, matchFrames, type FrameVariant } from './helpers/fixtures';
import { assertDetached, findThreadByName } from './helpers/proc';
import { euStackPcs, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startFixture, startNode, startPython, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const names = (t: ThreadStack) => t.frames.map((f) => f.symbol ?? '??');

function thread(shot: Snapshot, tid: number): ThreadStack {
  const t = shot.threads.find((x) => x.tid === tid);
  if (!t) throw new Error(`thread ${tid} missing`);
  return t;
}

const BLOCKED = ['sleeper', 'condwait', 'joiner', 'epoller', 'reader', 'sigframe']; // joiner also starts joinee

describe.each(['fp', 'nofp'] as FrameVariant[])('fixture built %s', (variant) => {
  it('every thread equals the expected stack, reaching its entry', async () => {
    const target = await startFixture('threads', variant, ['--only', ['spin', ...BLOCKED].join(',')]);
    const shot = snapshotSync(target.pid);
    for (const t of shot.threads) {
      const expected = EXPECTED_STACKS[t.tid === target.pid ? 'main' : t.name];
      expect(matchFrames(names(t), expected), `thread ${t.name}`).toBeNull();
      expect(t.complete, `thread ${t.name}: ${t.end}`).toBe(true);
      expect(t.end).toBe('thread-entry');
    }
    // The signal frame: the handler's frames, then the interrupted code, restored from the
    // ucontext the kernel saved on the stack.
    const sig = thread(shot, findThreadByName(target.pid, 'sigframe'));
    const restorer = sig.frames.findIndex((f) => f.symbol === '__restore_rt');
    expect(restorer).toBeGreaterThan(0);
    expect(sig.frames[restorer + 1].method).toBe('signal');
    assertDetached(target.pid);
  });

  it.skipIf(!HAVE_EU_STACK)("every frame address equals eu-stack's", async () => {
    const target = await startFixture('threads', variant, ['--only', ['spin', ...BLOCKED].join(',')]);
    const shot = snapshotSync(target.pid);
    const oracle = euStackPcs(target.pid);
    const spin = findThreadByName(target.pid, 'spin');
    expect(oracle.size).toBe(shot.threads.length);
    for (const t of shot.threads) {
      const ours = t.frames.map((f) => f.pc);
      const theirs = oracle.get(t.tid) ?? [];
      // The spinning thread's pc moves between the two captures; its callers do not.
      if (t.tid === spin) expect(ours.slice(1), `thread ${t.name}`).toEqual(theirs.slice(1));
      else expect(ours, `thread ${t.name}`).toEqual(theirs);
    }
    assertDetached(target.pid);
  });
});

// node's and Python's main() end in a tail call (to node::Start, Py_BytesMain): no unwinder
// can show a `main` frame there, and eu-stack shows none either.
describe('real runtimes', () => {
  const nodeCases = [
    ['idle', "setInterval(() => {}, 1000); setTimeout(() => console.log('ready'), 300);"],
    ['busy', "console.log('ready'); while (true) {}"],
  ] as const;
  for (const [kind, script] of nodeCases) {
    it(`a ${kind} node process: every thread reaches its entry; main runs node::Start … _start`, async () => {
      const target = await startNode(script, [], { mainBlocked: kind === 'idle' });
      const shot = snapshotSync(target.pid);
      for (const t of shot.threads) {
        expect(t.complete, `thread ${t.tid} ${t.name}: ${t.end}\n${names(t).join('\n')}`).toBe(true);
      }
      const main = thread(shot, target.pid);
      expect(names(main).slice(-4)).toEqual([
        'node::Start(int, char**)',
        '__libc_start_call_main',
        '__libc_start_main',
        '_start',
      ]);
      if (kind === 'idle') {
        expect(names(main).slice(0, 3)).toEqual(['epoll_pwait', 'uv__io_poll', 'uv_run']);
        if (HAVE_EU_STACK) {
          const oracle = euStackPcs(target.pid);
          for (const t of shot.threads)
            expect(
              t.frames.map((f) => f.pc),
              `thread ${t.tid}`,
            ).toEqual(oracle.get(t.tid));
        }
      }
      assertDetached(target.pid);
    });
  }

  it("python3 -c 'while True: pass' is complete down to _start", async () => {
    const target = await startPython("import sys; print('ready', flush=True)\nwhile True: pass");
    await new Promise((r) => setTimeout(r, 300)); // past the print, into the loop
    const shot = snapshotSync(target.pid);
    const main = thread(shot, target.pid);
    expect(main.complete, names(main).join('\n')).toBe(true);
    expect(names(main).slice(-4)).toEqual(['Py_BytesMain', '__libc_start_call_main', '__libc_start_main', '_start']);
    // eu-stack lists machine frames: the Python frames stackshot adds are compared elsewhere.
    const native = main.frames.filter((f) => f.kind === undefined);
    if (HAVE_EU_STACK)
      expect(native.map((f) => f.pc).slice(1)).toEqual(euStackPcs(target.pid).get(target.pid)?.slice(1));
    assertDetached(target.pid);
  });
});
