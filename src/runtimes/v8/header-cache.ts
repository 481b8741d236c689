// A cache of what was derived from V8 heap objects, trusted only while the object reads back
// the same: GC moves objects and rewrites the pointers in them.

/** Entries kept per cache; a process's stacks hold far fewer distinct functions. */
const MAX_CACHED = 4096;

/**
 * What was derived from an object, reused while the object's header (its first fields, read
 * again each time) is byte for byte the same: an object that moved or changed no longer matches.
 */
export class HeaderCache<T> {
  private readonly entries = new Map<bigint, { header: Buffer; value: T }>();

  get(addr: bigint, header: Buffer, compute: () => T): T {
    const hit = this.entries.get(addr);
    if (hit !== undefined && hit.header.equals(header)) return hit.value;
    const value = compute();
    if (this.entries.size >= MAX_CACHED) this.entries.clear();
    this.entries.set(addr, { header: Buffer.from(header), value });
    return value;
  }
}
