// Least-recently-used map, bounded by entry count and, optionally, by a weight (the bytes a
// parsed module holds): memory stays bounded however many files and processes go by.
export interface LruOptions<K, V> {
  /** A value's weight (e.g. bytes held); with maxWeight, the total is kept at or below it. */
  weigh?: (value: V) => number;
  maxWeight?: number;
  /** Called for each entry pushed out (not for one replaced under the same key by set()). */
  onEvict?: (key: K, value: V) => void;
}

export class LruCache<K, V> {
  private readonly map = new Map<K, V>();
  private weight = 0;

  constructor(
    readonly capacity: number,
    private readonly options: LruOptions<K, V> = {},
  ) {}

  get(key: K): V | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      // Map iterates in insertion order: re-inserting moves the key to the young end.
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }

  set(key: K, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.weight -= this.weigh(old);
      this.map.delete(key);
    }
    this.map.set(key, value);
    this.weight += this.weigh(value);
    const maxWeight = this.options.maxWeight ?? Infinity;
    // The newest entry always stays, even alone over the weight limit.
    while (this.map.size > 1 && (this.map.size > this.capacity || this.weight > maxWeight)) {
      const [oldestKey, oldest] = this.map.entries().next().value as [K, V];
      this.map.delete(oldestKey);
      this.weight -= this.weigh(oldest);
      this.options.onEvict?.(oldestKey, oldest);
    }
  }

  /** Empties the cache, evicting every entry. */
  clear(): void {
    const entries = [...this.map];
    this.map.clear();
    this.weight = 0;
    for (const [k, v] of entries) this.options.onEvict?.(k, v);
  }

  get size(): number {
    return this.map.size;
  }

  /** The summed weight of the entries (0 without a weigh function). */
  get totalWeight(): number {
    return this.weight;
  }

  private weigh(value: V): number {
    return this.options.weigh?.(value) ?? 0;
  }
}
