// The perf-map resolver: anonymous memory (JIT code) named by the process's
// /tmp/perf-<pid>.map (perf-map.ts reads it, distrusting it). The map is read at most once per
// naming pass (beginPass), and only if a pc needs it; its names are never remembered by
// address, since a JIT renames addresses as it reuses them.
import { PerfMap, PerfMapCache } from '../perf-map';
import type { PcPlace, Resolution, Resolver } from './resolver';

export class PerfMapResolver implements Resolver {
  readonly maps = new PerfMapCache();
  /** This pass's map: undefined until a pc needs it, null when the process has none. */
  private current: PerfMap | null | undefined;

  beginPass(): void {
    this.current = undefined;
  }

  resolve({ pid, at }: PcPlace): Resolution {
    if (this.current === undefined) this.current = this.maps.get(pid);
    const hit = this.current?.lookup(at);
    if (hit !== undefined) return { symbol: hit.name, offset: hit.offset };
    if (this.current !== null) return { reason: 'not-in-perf-map' };
    const refused = this.maps.failureOf(pid);
    return refused === undefined ? { reason: 'no-perf-map' } : { reason: 'perf-map-refused', detail: refused };
  }
}
