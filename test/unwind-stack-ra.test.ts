// A return address inside the thread's own stack mapping is never a frame, whatever the
// mapping's permissions: an executable stack (gcc -z execstack, elfutils' aarch64 cores) let a
// walk that ran past the entry take stack addresses for code. Crafted stacks, unwound offline
// (pid 0: no code is read), so only the rule under test decides.
import { describe, expect, it } from 'vitest';

import { binding } from '../src/addon';

const SP = 0x7ffd_0000_0000n;
const SIZE = 4096n;
const CODE = 0x5555_0000_0000n;

/** A frame record at fp = SP + 0x100: [fp] = 0 (the chain ends), [fp + 8] = ra. */
function walk(ra: bigint, stackExecutable: boolean): { pcs: bigint[]; end: string } {
  const stack = Buffer.alloc(Number(SIZE));
  stack.writeBigUInt64LE(0n, 0x100);
  stack.writeBigUInt64LE(ra, 0x108);
  const mappings = BigUint64Array.from([
    ...[CODE, CODE + 0x1000n, 0n, 1n], // code, no unwind table
    ...[SP, SP + SIZE, 0n, stackExecutable ? 1n : 0n],
  ]);
  const [u] = binding.unwind({
    arch: 'x64',
    pid: 0,
    maxFrames: 16,
    mappings,
    threads: [{ pc: CODE + 0x10n, sp: SP, fp: SP + 0x100n, lr: 0n, stack }],
  });
  return { pcs: [...u.pcs], end: u.end };
}

describe('return addresses inside the stack mapping', () => {
  it('a code address is followed (the control case)', () => {
    expect(walk(CODE + 0x20n, true).pcs).toEqual([CODE + 0x10n, CODE + 0x20n]);
  });

  it('a stack address is rejected on a non-executable stack', () => {
    expect(walk(SP + 0x200n, false)).toEqual({ pcs: [CODE + 0x10n], end: 'ra-not-executable' });
  });

  it('a stack address is rejected on an executable stack too', () => {
    expect(walk(SP + 0x200n, true)).toEqual({ pcs: [CODE + 0x10n], end: 'ra-not-executable' });
  });
});
