// Address ranges that may overlap or nest (unit ranges, function ranges), each with a value:
// which of them cover an address. Sorted by start, with the running maximum of the ends, so a
// lookup scans back from the last start at or below the address only while a range can still
// reach it.
export class RangeIndex<T> {
  private readonly low: bigint[] = [];
  private readonly high: bigint[] = [];
  private readonly maxHigh: bigint[] = [];
  private readonly values: T[] = [];

  /** Entries are [low, high, value] with the range [low, high). */
  constructor(entries: [bigint, bigint, T][]) {
    entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    let max = 0n;
    for (const [low, high, value] of entries) {
      if (high > max) max = high;
      this.low.push(low);
      this.high.push(high);
      this.maxHigh.push(max);
      this.values.push(value);
    }
  }

  /** Every range covering v, as its size and value (a value listed once per covering range). */
  covering(v: bigint): { size: bigint; value: T }[] {
    const out: { size: bigint; value: T }[] = [];
    for (let j = lastAtOrBelow(this.low, v); j >= 0 && this.maxHigh[j] > v; j--) {
      if (this.high[j] > v) out.push({ size: this.high[j] - this.low[j], value: this.values[j] });
    }
    return out;
  }
}

/** Index of the last element <= v in a sorted array, or -1. */
function lastAtOrBelow(sorted: bigint[], v: bigint): number {
  let l = 0;
  let h = sorted.length - 1;
  let k = -1;
  while (l <= h) {
    const m = (l + h) >>> 1;
    if (sorted[m] <= v) {
      k = m;
      l = m + 1;
    } else {
      h = m - 1;
    }
  }
  return k;
}
