// Bounded reads of a live target's memory (after its threads run again): every read either
// returns the whole range asked for or nothing. Reads go through whole pages kept for the
// life of one TargetMemory (one snapshot): frames sit together in the interpreter's data
// stack, objects share pages, and one read of the target costs as much as a page of bytes.
import { ProcessMemory } from '../../procfs/process-memory';

const PAGE = 4096n;
/** Reads longer than this bypass the page cache. */
const DIRECT = 16384;
/** Pages kept per snapshot (16 MiB), then the cache starts over. */
const MAX_PAGES = 4096;

export class TargetMemory {
  /** Reads of the target made, for costs and tests. */
  reads = 0;
  private readonly pages = new Map<bigint, Buffer | null>();

  private readonly memory: ProcessMemory;

  constructor(readonly pid: number) {
    this.memory = new ProcessMemory(pid);
  }

  /** Closes the target's files (the pages kept stay readable). */
  close(): void {
    this.memory.close();
  }

  /** `length` bytes at `address`, or null when any of them is unreadable. */
  read(address: bigint, length: number): Buffer | null {
    if (address <= 0n || length <= 0 || address + BigInt(length) > 0xffff_ffff_ffff_ffffn) return null;
    if (length > DIRECT) return this.direct(address, length);
    const first = address / PAGE;
    const last = (address + BigInt(length) - 1n) / PAGE;
    const parts: Buffer[] = [];
    for (let p = first; p <= last; p++) {
      const page = this.page(p);
      if (page === null) return null;
      parts.push(page);
    }
    const start = Number(address - first * PAGE);
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    return all.subarray(start, start + length);
  }

  /** The same bytes read again from the target now, past the pages kept (null if unreadable). */
  reread(address: bigint, length: number): Buffer | null {
    if (address <= 0n || length <= 0 || address + BigInt(length) > 0xffff_ffff_ffff_ffffn) return null;
    return this.direct(address, length);
  }

  /** Drops the pages kept: the next reads see the target as it is now. */
  forget(): void {
    this.pages.clear();
  }

  u64(address: bigint): bigint | null {
    return this.read(address, 8)?.readBigUInt64LE(0) ?? null;
  }

  private page(index: bigint): Buffer | null {
    let page = this.pages.get(index);
    if (page === undefined) {
      if (this.pages.size >= MAX_PAGES) this.pages.clear();
      page = this.direct(index * PAGE, Number(PAGE));
      this.pages.set(index, page);
    }
    return page;
  }

  private direct(address: bigint, length: number): Buffer | null {
    this.reads++;
    let buf: Buffer;
    try {
      buf = this.memory.read(address, length);
    } catch {
      return null;
    }
    return buf.length === length ? buf : null;
  }
}
