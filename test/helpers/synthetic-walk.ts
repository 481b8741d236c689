// Offline walks over a made-up stack: every thread's stack is the same bytes at SYNTHETIC_SP,
// its code one text segment whose unwind table is `cfi`. Tests compare two tables for the same
// code this way (no process, no other module).
import { binding, type RawUnwindThread, type RawUnwound } from '../../src/addon';
import type { Arch } from '../../src/types';
import type { LoadSegment } from '../../src/elf/elf-file';

export const SYNTHETIC_SP = 0x7ff000000000n;

/** Up to maxFrames frames of each thread, found through `cfi` in `text` and the stack at SYNTHETIC_SP. */
export function walkSynthetic(
  arch: Arch,
  text: LoadSegment,
  cfi: number,
  threads: RawUnwindThread[],
  maxFrames = 4,
): RawUnwound[] {
  const stackEnd = SYNTHETIC_SP + BigInt(threads[0]?.stack.length ?? 0);
  return binding.unwind({
    arch,
    pid: 0,
    maxFrames,
    stackScan: false,
    mappings: new BigUint64Array([
      text.vaddr,
      text.vaddr + text.filesz,
      0n,
      BigInt(cfi * 4 + 1),
      SYNTHETIC_SP,
      stackEnd,
      0n,
      0n,
    ]),
    threads,
  });
}
