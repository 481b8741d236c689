// Thread entries are matched exactly: a name a user function may carry (musl's `start`) counts
// only inside musl's libc; Go's runtime entries count by their (dotted, un-C-like) names.
import { describe, expect, it } from 'vitest';

import { finishStack, isThreadEntry } from '../src/stack/thread-entry';
import type { EndReason, Frame } from '../src/types';

const frame = (symbol: string | null, module: string | null): Frame => ({
  pc: '0x1000',
  method: 'cfi',
  returnAddress: true,
  module,
  moduleOffset: module === null ? null : '0x1000',
  symbol,
  symbolOffset: symbol === null ? null : 0,
});

describe('thread entries', () => {
  it("musl's start counts only in musl's libc, not in a user's binary", () => {
    expect(isThreadEntry(frame('start', '/usr/local/bin/app'))).toBe(false);
    expect(isThreadEntry(frame('start', '/usr/lib/x86_64-linux-gnu/libfoo.so.1'))).toBe(false);
    expect(isThreadEntry(frame('start', '/lib/ld-musl-x86_64.so.1'))).toBe(true);
    expect(isThreadEntry(frame('start_c11', '/usr/lib/x86_64-linux-musl/libc.so'))).toBe(true);
  });

  it("Go's thread and goroutine entries", () => {
    for (const name of ['runtime.goexit.abi0', 'runtime.mstart.abi0', 'runtime.rt0_go.abi0', 'runtime.clone.abi0']) {
      expect(isThreadEntry(frame(name, '/app'))).toBe(true);
    }
    expect(isThreadEntry(frame('runtime.main', '/app'))).toBe(false);
  });

  it('a user function called start does not end the stack as complete', () => {
    const frames = [frame('work', '/app'), frame('start', '/app'), frame('main', '/app'), frame('_start', '/app')];
    const done = finishStack(frames, 'end-of-chain');
    expect(done.frames).toHaveLength(4);
    expect(done.complete).toBe(true);
  });

  it('an unnamed frame at the ELF entry point completes the stack', () => {
    const frames = [frame('work', '/app'), frame(null, '/app'), frame(null, null)];
    expect(finishStack(frames, 'end-of-chain', (i) => i === 1)).toEqual({
      frames: frames.slice(0, 2),
      end: 'thread-entry',
      complete: true,
    });
    expect(finishStack(frames, 'end-of-chain').complete).toBe(false);
  });
});

// finishStack's decision, case by case: frames named by their symbols ('?' for an unnamed one,
// '@' for one at the ELF entry point), what the walk ended with, and what must come out.
describe('finishStack (table)', () => {
  const cases: {
    name: string;
    symbols: string[];
    walkEnd: EndReason;
    kept: number;
    end: EndReason;
    complete: boolean;
  }[] = [
    { name: 'no frames', symbols: [], walkEnd: 'end-of-chain', kept: 0, end: 'end-of-chain', complete: false },
    {
      name: 'no entry: the walk decides, nothing is cut',
      symbols: ['work', 'main', '?'],
      walkEnd: 'fp-outside-stack',
      kept: 3,
      end: 'fp-outside-stack',
      complete: false,
    },
    {
      name: 'a pthread: cut after clone3',
      symbols: ['work', 'start_thread', 'clone3', '?', '?'],
      walkEnd: 'end-of-chain',
      kept: 3,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'the entry run is kept whole, not only its first frame',
      symbols: ['work', 'start_thread', '__clone3', 'clone'],
      walkEnd: 'max-frames',
      kept: 4,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'the main thread: cut after _start',
      symbols: ['main', '__libc_start_main', '_start', 'garbage'],
      walkEnd: 'end-of-chain',
      kept: 3,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'the innermost frame can be the entry',
      symbols: ['_start', 'x'],
      walkEnd: 'end-of-chain',
      kept: 1,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'an unnamed frame at the ELF entry point',
      symbols: ['work', '@', '?'],
      walkEnd: 'end-of-chain',
      kept: 2,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'the first entry decides: a later one is past the cut',
      symbols: ['a', 'start_thread', 'b', '_start'],
      walkEnd: 'end-of-chain',
      kept: 2,
      end: 'thread-entry',
      complete: true,
    },
    {
      name: 'a Go goroutine ends at runtime.goexit',
      symbols: ['main.work', 'runtime.goexit.abi0', '?'],
      walkEnd: 'end-of-chain',
      kept: 2,
      end: 'thread-entry',
      complete: true,
    },
  ];
  it.each(cases)('$name', ({ symbols, walkEnd, kept, end, complete }) => {
    const frames = symbols.map((s) => frame(s === '?' || s === '@' ? null : s, '/app'));
    const atEntry = (i: number): boolean => symbols[i] === '@';
    const out = finishStack(frames, walkEnd, atEntry);
    expect(out).toEqual({ frames: frames.slice(0, kept), end, complete });
  });
});
