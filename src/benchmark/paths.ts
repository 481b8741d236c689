// Each capture path's cost to the target: the pause each thread paid as stackshot measured it,
// next to what the kernel's own counters show over the same window, and the bytes copied.
import type { CaptureFallback, CapturePath, Snapshot } from '../types';
import { bump, distribution } from './distribution';
import type { ThreadCounters } from './kernel-accounting';
import type { BenchPath, PathResult } from './types';

export class PathTally {
  private captures = 0;
  private notStopped = 0;
  private unread = 0;
  private readonly pauses: number[] = [];
  private readonly runDelays: number[] = [];
  private readonly switches: number[] = [];
  private readonly bytes: number[] = [];
  private readonly captureNs: number[] = [];
  private readonly served: Partial<Record<CapturePath, number>> = {};
  private readonly fallbacks: Partial<Record<CaptureFallback, number>> = {};

  constructor(readonly path: BenchPath) {}

  /** One capture of the process, the kernel counters' changes over it, and its capture-and-walk time. */
  add(shot: Snapshot, kernel: { deltas: ThreadCounters[]; unread: number }, captureNs: number): void {
    this.captures++;
    for (const t of shot.threads) {
      if (t.failure !== undefined) continue;
      bump(this.served, t.capture);
      if (t.captureFallback !== undefined) bump(this.fallbacks, t.captureFallback);
      if (t.pauseNs > 0) this.pauses.push(t.pauseNs);
      else this.notStopped++;
    }
    for (const d of kernel.deltas) {
      this.runDelays.push(d.runDelayNs);
      this.switches.push(d.switches);
    }
    this.unread += kernel.unread;
    this.bytes.push(shot.cost.bytesCopied);
    this.captureNs.push(captureNs);
  }

  /** Thread stops this path caused. */
  get stops(): number {
    return this.pauses.length;
  }

  result(): PathResult {
    return {
      path: this.path,
      captures: this.captures,
      pauseNs: distribution(this.pauses),
      notStopped: this.notStopped,
      served: this.served,
      fallbacks: this.fallbacks,
      kernel: {
        runDelayNs: distribution(this.runDelays),
        contextSwitches: distribution(this.switches),
        unread: this.unread,
      },
      bytesCopied: distribution(this.bytes),
      captureNs: distribution(this.captureNs),
      pauses: [...this.pauses],
    };
  }
}
