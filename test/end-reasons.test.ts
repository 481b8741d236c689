// The end reasons are one closed list: the unwinder's enum (native/unwind/walk_result.h), spelled
// by the addon, must be exactly src/types.ts WALK_END_REASONS, in order, or the union lies. And
// a reason that had been shared says what it means: a CFA outside the stack is not an fp's fault.
import { describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { WALK_END_REASONS } from '../src/types';

describe('end reasons', () => {
  it('the addon reports exactly the reasons src/types.ts lists', () => {
    expect(binding.endReasons).toEqual(WALK_END_REASONS);
  });
});

const SP = 0x7ffd_0000_0000n;
const STACK = 4096;
const CODE = 0x5555_0000_1000n; // mapped from link-time address 0x1000 (bias CODE - 0x1000)
const EH_FRAME_VADDR = 0x3000n;

const uleb = (v: number): number[] => {
  const out: number[] = [];
  do {
    let b = v & 0x7f;
    v >>>= 7;
    if (v !== 0) b |= 0x80;
    out.push(b);
  } while (v !== 0);
  return out;
};
const u32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
const padded = (body: number[]): number[] => {
  while ((body.length + 4) % 8 !== 0) body.push(0); // DW_CFA_nop
  return [...u32(body.length), ...body];
};

/**
 * One CIE and one FDE covering link-time [0x1000, 0x2000): CFA = rsp + cfaOffset, the return
 * address at CFA - 8 (what a function that pushed cfaOffset - 8 bytes says).
 */
function ehFrame(cfaOffset: number): Buffer {
  const cie = padded([
    ...u32(0), // CIE id
    1, // version
    ...Buffer.from('zR\0'),
    ...uleb(1), // code alignment
    0x78, // data alignment -8
    16, // return address column (rip)
    ...uleb(1),
    0x1b, // FDE pointers: pcrel | sdata4
    0x0c,
    7,
    ...uleb(cfaOffset), // DW_CFA_def_cfa rsp, cfaOffset
    0x90,
    1, // DW_CFA_offset rip, cfa - 8
  ]);
  const fdeStart = cie.length;
  const pcBeginField = EH_FRAME_VADDR + BigInt(fdeStart + 8);
  const fde = padded([
    ...u32(fdeStart + 4), // CIE pointer: back from this field to the CIE
    ...u32(Number((0x1000n - pcBeginField) & 0xffff_ffffn)), // pc begin, pc-relative
    ...u32(0x1000), // pc range
    ...uleb(0), // augmentation data
  ]);
  return Buffer.from([...cie, ...fde, ...u32(0)]);
}

/** Walks one frame of crafted code (pid 0: nothing is read from a target) under that CFI. */
function walk(cfaOffset: number): { pcs: bigint[]; end: string } {
  const cfi = binding.loadCfi({ arch: 'x64', ehFrame: ehFrame(cfaOffset), ehFrameVaddr: EH_FRAME_VADDR });
  try {
    expect(cfi).toBeGreaterThan(0);
    const stack = Buffer.alloc(STACK);
    if (cfaOffset <= STACK) stack.writeBigUInt64LE(CODE + 0x80n, cfaOffset - 8);
    const mappings = BigUint64Array.from([
      ...[CODE, CODE + 0x1000n, CODE - 0x1000n, (BigInt(cfi) << 2n) | 1n],
      ...[SP, SP + BigInt(STACK), 0n, 0n],
    ]);
    const [u] = binding.unwind({
      arch: 'x64',
      pid: 0,
      maxFrames: 2,
      mappings,
      threads: [{ pc: CODE + 0x10n, sp: SP, fp: 0n, lr: 0n, stack }],
    });
    return { pcs: [...u.pcs], end: u.end };
  } finally {
    binding.unloadCfi(cfi);
  }
}

describe('a CFI step whose CFA', () => {
  it('lies in the stack is taken (the control case)', () => {
    expect(walk(0x40)).toEqual({ pcs: [CODE + 0x10n, CODE + 0x80n], end: 'max-frames' });
  });

  it('lies beyond the stack ends the walk with cfa-outside-stack', () => {
    expect(walk(0x2000)).toEqual({ pcs: [CODE + 0x10n], end: 'cfa-outside-stack' });
  });
});
