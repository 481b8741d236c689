// Medians and spreads of what a run measured: a busy machine makes single figures lie.
import type { Distribution } from './types';

function at(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** Median, p90 and max of the finite values (null figures when there are none). */
export function distribution(values: readonly number[]): Distribution {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { n: 0, median: null, p90: null, max: null };
  return { n: v.length, median: at(v, 0.5), p90: at(v, 0.9), max: v[v.length - 1]! };
}

/** Adds one to counts[key]. */
export function bump<K extends string>(counts: Partial<Record<K, number>>, key: K, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}
