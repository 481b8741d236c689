// Bounded reads of a live target's memory (after its threads run again): every read either
// returns the whole range asked for or nothing.
import { binding } from '../../addon';

export class TargetMemory {
  /** Reads made, for costs and tests. */
  reads = 0;
  constructor(readonly pid: number) {}

  /** `length` bytes at `address`, or null when any of them is unreadable. */
  read(address: bigint, length: number): Buffer | null {
    if (address <= 0n || address + BigInt(length) > 0xffff_ffff_ffff_ffffn) return null;
    this.reads++;
    let buf: Buffer;
    try {
      buf = binding.readMemory(this.pid, address, length);
    } catch {
      return null;
    }
    return buf.length === length ? buf : null;
  }

  u64(address: bigint): bigint | null {
    return this.read(address, 8)?.readBigUInt64LE(0) ?? null;
  }
}
