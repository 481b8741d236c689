// The same captures unwound by each method (frame pointers only, hybrid), per thread kind:
// frames found, complete or why not, walk time per frame. Both walks read exactly the same
// registers and stack bytes, so their differences are the methods' alone.
import { compareThread } from '../audit/explain';
import type { EndReason, Snapshot, ThreadStack } from '../types';
import { bump, distribution } from './distribution';
import type { KindWalk } from './kind-walks';
import type { BenchMethod, FpLoss, MethodKind, MethodResult } from './types';

/** "main" for the main thread; else its name without numbers ("libuv-worker", "python" for "python3.11"). */
export function threadKind(pid: number, t: Pick<ThreadStack, 'tid' | 'name'>): string {
  if (t.tid === pid) return 'main';
  return t.name.replace(/\d+(\.\d+)*/g, '').trim() || '(unnamed)';
}

interface KindAcc {
  stacks: number;
  complete: number;
  frames: number[];
  ends: Partial<Record<EndReason, number>>;
  /** Per capture: this kind's own walk call over its frames, and over its stacks. */
  walkPerFrame: number[];
  walkPerStack: number[];
}

const newKind = (): KindAcc => ({ stacks: 0, complete: 0, frames: [], ends: {}, walkPerFrame: [], walkPerStack: [] });

/** Collects the walks of one method over the rounds. */
export class MethodTally {
  private readonly kinds = new Map<string, KindAcc>();
  private readonly walkPerFrame: number[] = [];
  private readonly walkPerStack: number[] = [];

  constructor(readonly method: BenchMethod) {}

  add(shot: Snapshot): void {
    let frames = 0;
    let stacks = 0;
    for (const t of shot.threads) {
      if (t.failure !== undefined) continue;
      stacks++;
      const kind = threadKind(shot.pid, t);
      let acc = this.kinds.get(kind);
      if (acc === undefined) this.kinds.set(kind, (acc = newKind()));
      acc.stacks++;
      acc.frames.push(t.frames.length);
      frames += t.frames.length;
      if (t.complete) acc.complete++;
      else bump(acc.ends, t.end);
    }
    if (frames > 0) this.walkPerFrame.push(shot.cost.walkNs / frames);
    if (stacks > 0) this.walkPerStack.push(shot.cost.walkNs / stacks);
  }

  /** One capture's walks, one call per thread kind (kind-walks.ts). */
  addKindWalks(walks: Map<string, KindWalk>): void {
    for (const [kind, w] of walks) {
      let acc = this.kinds.get(kind);
      if (acc === undefined) this.kinds.set(kind, (acc = newKind()));
      if (w.frames > 0) acc.walkPerFrame.push(w.walkNs / w.frames);
      if (w.stacks > 0) acc.walkPerStack.push(w.walkNs / w.stacks);
    }
  }

  result(): MethodResult {
    const kinds: MethodKind[] = [...this.kinds]
      .map(([kind, a]) => ({
        kind,
        stacks: a.stacks,
        complete: a.complete,
        frames: distribution(a.frames),
        ends: a.ends,
        walkNsPerFrame: distribution(a.walkPerFrame),
        walkNsPerStack: distribution(a.walkPerStack),
      }))
      .sort((a, b) => b.stacks - a.stacks || a.kind.localeCompare(b.kind));
    const ends: Partial<Record<EndReason, number>> = {};
    for (const k of kinds) for (const [end, n] of Object.entries(k.ends)) bump(ends, end as EndReason, n);
    return {
      method: this.method,
      stacks: kinds.reduce((n, k) => n + k.stacks, 0),
      complete: kinds.reduce((n, k) => n + k.complete, 0),
      frames: distribution([...this.kinds.values()].flatMap((a) => a.frames)),
      walkNsPerFrame: distribution(this.walkPerFrame),
      walkNsPerStack: distribution(this.walkPerStack),
      ends,
      kinds,
    };
  }
}

/** Where fp-only walks of the same captures broke, and whether the hybrid walk completed them. */
export class FpLossTally {
  private lost = 0;
  private recovered = 0;
  private readonly breakers = new Map<string, number>();

  add(fp: Snapshot, hybrid: Snapshot): void {
    const fpByTid = new Map(fp.threads.map((t) => [t.tid, t]));
    for (const h of hybrid.threads) {
      const f = fpByTid.get(h.tid);
      if (f === undefined) continue;
      const c = compareThread(f, h);
      if (c.status !== 'cut-short') continue;
      this.lost++;
      if (c.recovered) this.recovered++;
      const module = c.brokeAt?.module ?? '(unknown)';
      this.breakers.set(module, (this.breakers.get(module) ?? 0) + 1);
    }
  }

  result(): FpLoss {
    const breakers = [...this.breakers]
      .map(([module, stacks]) => ({ module, stacks }))
      .sort((a, b) => b.stacks - a.stacks || a.module.localeCompare(b.module));
    return { lost: this.lost, recovered: this.recovered, breakers };
  }
}
