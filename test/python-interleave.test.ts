// Where Python runs go among native frames: pure, on hand-made stacks.
import { describe, expect, it } from 'vitest';
import { EVAL_FRAME, interleave } from '../src/symbolize/resolvers/cpython';
import type { PythonRuntime } from '../src/runtimes/cpython/interpreter';
import { fixedLayout } from '../src/runtimes/cpython/layouts';
import { TargetMemory } from '../src/runtimes/cpython/memory';
import { CodeCache, readPythonStack, type PythonStack } from '../src/runtimes/cpython/stacks';
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
const py = (name: string) => ({ name, file: '/app/job.py', line: 1, frame: 0n, code: 0n });
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

/**
 * A thread's frame chain in memory that the thread changes between two reads (the stack as
 * readPythonStack sees a running thread): 3.11 layout, three frames, the innermost replaced.
 */
class MovingChain extends TargetMemory {
  private regions = new Map<bigint, Buffer>();
  constructor(private readonly after: Map<bigint, Buffer>) {
    super(0);
  }
  set(address: bigint, bytes: Buffer): void {
    this.regions.set(address, bytes);
  }
  override read(address: bigint, length: number): Buffer | null {
    for (const [start, bytes] of this.regions) {
      const end = start + BigInt(bytes.length);
      if (address >= start && address + BigInt(length) <= end)
        return bytes.subarray(Number(address - start), Number(address - start) + length);
    }
    return null;
  }
  override forget(): void {
    for (const [a, b] of this.after) this.regions.set(a, b); // the thread moved on meanwhile
  }
}

describe('readPythonStack on a chain that moves while it is read', () => {
  const layout = fixedLayout(0x030b04f0)!;
  // Code objects that do not check out (wrong type): each frame reads as python-code-invalid,
  // with its frame and code addresses, which is all the double read compares.
  const rt = { layout, codeType: 0xc0den, unicodeType: 0n, bytesType: 0n } as unknown as PythonRuntime;
  const frame = (code: bigint, previous: bigint): Buffer => {
    const b = Buffer.alloc(layout.frame.size);
    b.writeBigUInt64LE(code, layout.frame.code);
    b.writeBigUInt64LE(previous, layout.frame.previous);
    return b;
  };
  const word = (v: bigint): Buffer => {
    const b = Buffer.alloc(64);
    b.writeBigUInt64LE(v, 0);
    return b;
  };
  const TSTATE = 0x1000n;
  const CFRAME = 0x2000n;
  function chain(after: Map<bigint, Buffer>): MovingChain {
    const mem = new MovingChain(after);
    mem.set(TSTATE + BigInt(layout.thread.cframe!), word(CFRAME));
    mem.set(CFRAME + BigInt(layout.thread.currentFrame), word(0x3000n));
    mem.set(0x3000n, frame(0xa1n, 0x3100n)); // innermost
    mem.set(0x3100n, frame(0xa2n, 0x3200n));
    mem.set(0x3200n, frame(0xa3n, 0n)); // outermost
    return mem;
  }
  const reasons = (s: PythonStack) => s.runs.flat().map((f) => `${f.code}:${f.reason}`);

  it('keeps every frame when both reads agree', () => {
    const s = readPythonStack(chain(new Map()), rt, new CodeCache(), TSTATE);
    expect(reasons(s)).toEqual(['161:python-code-invalid', '162:python-code-invalid', '163:python-code-invalid']);
  });

  it('gives python-stack-changed to the inner frames the second read found different', () => {
    // The innermost frame now runs another code object at the same address.
    const s = readPythonStack(chain(new Map([[0x3000n, frame(0xb1n, 0x3100n)]])), rt, new CodeCache(), TSTATE);
    expect(reasons(s)).toEqual(['177:python-stack-changed', '162:python-code-invalid', '163:python-code-invalid']);
    // The middle one returned: its caller's frame is now the innermost; all but the outermost moved.
    const t = readPythonStack(chain(new Map([[0x3000n, frame(0xa3n, 0n)]])), rt, new CodeCache(), TSTATE);
    expect(reasons(t)).toEqual(['163:python-stack-changed']);
  });
});
