// Symbolization cost cold and warm, per frame, and which sources named the frames.
//
// Cold and warm are measured by cold-naming.ts (the definition npm run bench shares). The
// shared symbolizer that snapshots use is not touched, so running a benchmark does not change
// what later snapshots in the same program pay.
import type { Snapshot } from '../types';
import type { ColdWarm } from './cold-naming';
import { bump, distribution } from './distribution';
import type { Frame } from '../types';
import type { NameSource, NamingResult } from './types';

export function nameSource(f: Frame): NameSource {
  if (f.kind === 'js') return 'v8';
  if (f.kind === 'python') return 'cpython';
  if (f.symbol === null) return 'unnamed';
  if (f.module === '[vdso]') return 'vdso';
  if (f.module?.startsWith('/')) return f.symbol.endsWith('@plt') ? 'plt' : 'elf';
  return 'perf-map';
}

export class NamingTally {
  private frames = 0;
  /** Per measured capture, ns per frame. */
  private readonly cold: number[] = [];
  private readonly coldDiskCache: number[] = [];
  private readonly warm: number[] = [];
  private firstNs: number | null = null;
  private firstDiskCache = false;
  private readonly perFrame: number[] = [];
  private readonly sources: Partial<Record<NameSource, number>> = {};
  private readonly unnamed = new Map<string, number>();

  /** One capture named cold (cache off, cache filled) and warm by fresh symbolizers. */
  coldWarm(m: ColdWarm): void {
    if (m.frames === 0) return;
    this.frames = m.frames;
    this.cold.push(m.coldNs / m.frames);
    if (m.coldDiskCacheNs !== null) this.coldDiskCache.push(m.coldDiskCacheNs / m.frames);
    this.warm.push(m.warmNs / m.frames);
  }

  /** The first snapshot: files its walk parsed (walkLoadNs), and its own parsing and naming. */
  first(shot: Snapshot, walkLoadNs: number, diskCache: boolean): void {
    this.firstNs = walkLoadNs + shot.cost.modulesNs + shot.cost.symbolizeNs;
    this.firstDiskCache = diskCache;
  }

  /** A named snapshot: where its names came from, and (when warm) its naming time per frame. */
  add(shot: Snapshot, warm: boolean): void {
    let frames = 0;
    for (const t of shot.threads) {
      for (const f of t.frames) {
        frames++;
        const source = nameSource(f);
        bump(this.sources, source);
        if (source === 'unnamed') {
          const reason = f.symbolReason ?? 'no reason given';
          this.unnamed.set(reason, (this.unnamed.get(reason) ?? 0) + 1);
        }
      }
    }
    if (warm && frames > 0) this.perFrame.push(shot.cost.symbolizeNs / frames);
  }

  result(): NamingResult {
    return {
      frames: this.frames,
      coldNsPerFrame: distribution(this.cold).median,
      coldDiskCacheNsPerFrame: distribution(this.coldDiskCache).median,
      warmNsPerFrame: distribution(this.warm).median,
      firstSnapshotNs: this.firstNs,
      firstSnapshotDiskCache: this.firstDiskCache,
      snapshotNsPerFrame: distribution(this.perFrame),
      sources: this.sources,
      unnamedReasons: [...this.unnamed]
        .map(([reason, frames]) => ({ reason, frames }))
        .sort((a, b) => b.frames - a.frames || a.reason.localeCompare(b.reason)),
    };
  }
}
