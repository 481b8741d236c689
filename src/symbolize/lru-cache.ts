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
  /** Each value with the weight it was counted at (a value may grow later: see set()). */
  private readonly map = new Map<K, { value: V; weight: number }>();
  private weight = 0;

  constructor(
    readonly capacity: number,
    private readonly options: LruOptions<K, V> = {},
  ) {}

  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (e === undefined) return undefined;
    // Map iterates in insertion order: re-inserting moves the key to the young end.
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Inserts or replaces; setting a value again re-counts its weight (after it grew). */
  set(key: K, value: V): void {
    const old = this.map.get(key);
    if (old !== undefined) {
      this.weight -= old.weight;
      this.map.delete(key);
    }
    const weight = this.options.weigh?.(value) ?? 0;
    this.map.set(key, { value, weight });
    this.weight += weight;
    const maxWeight = this.options.maxWeight ?? Infinity;
    // The newest entry always stays, even alone over the weight limit.
    while (this.map.size > 1 && (this.map.size > this.capacity || this.weight > maxWeight)) {
      const [oldestKey, oldest] = this.map.entries().next().value as [K, { value: V; weight: number }];
      this.map.delete(oldestKey);
      this.weight -= oldest.weight;
      this.options.onEvict?.(oldestKey, oldest.value);
    }
  }

  /** Empties the cache, evicting every entry. */
  clear(): void {
    const entries = [...this.map];
    this.map.clear();
    this.weight = 0;
    for (const [k, e] of entries) this.options.onEvict?.(k, e.value);
  }

  get size(): number {
    return this.map.size;
  }

  /** The summed weight of the entries (0 without a weigh function). */
  get totalWeight(): number {
    return this.weight;
  }
}
