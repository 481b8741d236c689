// Walk time per thread kind: one native call walks every thread it is given, so the capture's
// threads are walked again one kind per call, and each kind's call time is divided by the
// frames and stacks it walked. The threads are not stopped again: the walk reads the copy.
import { buildSnapshot, type Captured } from '../snapshot';
import type { BenchMethod } from './types';
import { threadKind } from './methods';

/** One kind's walk in one capture: the call's time, and the frames and stacks it walked. */
export interface KindWalk {
  walkNs: number;
  frames: number;
  stacks: number;
}

/** Walks each thread kind of c in a call of its own (names not looked up: the walk alone). */
export function walkPerKind(c: Captured, method: BenchMethod): Map<string, KindWalk> {
  const byKind = new Map<string, Captured['raw']['threads']>();
  for (const t of c.raw.threads) {
    if (t.status !== 'captured') continue;
    const kind = threadKind(c.raw.pid, t);
    byKind.set(kind, [...(byKind.get(kind) ?? []), t]);
  }
  const opts = { ...c.opts, framePointersOnly: method === 'fp', symbolize: false };
  const walks = new Map<string, KindWalk>();
  for (const [kind, threads] of byKind) {
    const shot = buildSnapshot({ ...c.raw, threads }, opts, c.started, c.origin);
    const frames = shot.threads.reduce((n, t) => n + t.frames.length, 0);
    walks.set(kind, { walkNs: shot.cost.walkNs, frames, stacks: threads.length });
  }
  return walks;
}
