// Where Python runs go among native frames: pure, on hand-made stacks.
import { describe, expect, it } from 'vitest';
import { EVAL_FRAME, interleave } from '../src/symbolize/resolvers/cpython';
import type { PythonStack } from '../src/runtimes/cpython/stacks';
import type { Frame } from '../src/types';

const native = (symbol: string, extra: Partial<Frame> = {}): Frame => {
  const module = '/usr/bin/python3.11';
  return {
    pc: '0x10',
    method: 'cfi',
    returnAddress: true,
    module,
    moduleOffset: '0x10',
    symbol,
    symbolOffset: 1,
    ...extra,
  };
};
const py = (name: string) => ({ name, file: '/app/job.py', line: 1 });
const names = (frames: Frame[]) => frames.map((f) => (f.kind === 'python' ? `py:${f.symbol}` : f.symbol));

describe('interleave', () => {
  const frames = () => [native('sleep'), native(EVAL_FRAME), native('call'), native(EVAL_FRAME), native('main')];
  const stack: PythonStack = { runs: [[py('leaf'), py('mid')], [py('run')]] };

  it('puts each run right before its eval frame, innermost first', () => {
    const want = ['sleep', 'py:leaf', 'py:mid', EVAL_FRAME, 'call', 'py:run', EVAL_FRAME, 'main'];
    expect(names(interleave(frames(), stack, true))).toEqual(want);
  });

  it('goes before the calls inlined at the eval frame', () => {
    const inlined = native('inl', { inlined: true, symbolOffset: null });
    const f = [native('sleep'), inlined, native(EVAL_FRAME), native('main')];
    const out = interleave(f, { runs: [[py('leaf')]] }, true);
    expect(names(out)).toEqual(['sleep', 'py:leaf', 'inl', EVAL_FRAME, 'main']);
  });

  it('pairs from the outermost on a complete stack: an inner eval frame without a run says the stack changed', () => {
    const out = interleave(frames(), { runs: [[py('run')]] }, true);
    expect(names(out)).toEqual(['sleep', EVAL_FRAME, 'call', 'py:run', EVAL_FRAME, 'main']);
    expect(out[1]!.symbolReason).toBe('python-stack-changed');
    expect(out[4]!.symbolReason).toBeUndefined();
  });

  it('pairs from the innermost on a cut-short stack, and keeps the runs it could not place at the end', () => {
    const f = [native('sleep'), native(EVAL_FRAME), native('call')];
    expect(names(interleave(f, stack, false))).toEqual(['sleep', 'py:leaf', 'py:mid', EVAL_FRAME, 'call', 'py:run']);
  });

  it('marks the eval frame whose run was cut short', () => {
    const out = interleave(frames(), { runs: [[py('leaf')], [py('run')]], reason: 'python-frame-unreadable' }, true);
    const reasons = out.filter((f) => f.symbol === EVAL_FRAME).map((f) => f.symbolReason);
    expect(reasons).toEqual([undefined, 'python-frame-unreadable']);
  });
});
