// Symbolization cost cold and warm, per frame, and which sources named the frames.
//
// Cold: a fresh symbolizer names one capture's native frames, opening and parsing every module
// file as the first snapshot of a process does. Warm: the same symbolizer names them again.
// The shared symbolizer that snapshots use is not touched, so running a benchmark does not
// change what later snapshots in the same program pay.
import { binding } from '../addon';
import { Symbolizer, type PcToName } from '../symbolize/symbolizer';
import type { Frame, Snapshot } from '../types';
import { bump, distribution } from './distribution';
import type { NameSource, NamingResult } from './types';

/** The native frames' pcs as snapshot() hands them to the symbolizer (see framePcs there). */
function nativePcs(shot: Snapshot): PcToName[] {
  const pcs: PcToName[] = [];
  for (const t of shot.threads) {
    const frames = t.frames.filter((f) => f.kind !== 'python' && f.inlined !== true);
    frames.forEach((f, i) => {
      const exact = i === 0 || f.method === 'signal' || frames[i + 1]?.method === 'signal';
      pcs.push({ pc: BigInt(f.pc), isReturnAddress: !exact });
    });
  }
  return pcs;
}

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
  private coldNs: number | null = null;
  private warmNs: number | null = null;
  private firstNs: number | null = null;
  private readonly perFrame: number[] = [];
  private readonly sources: Partial<Record<NameSource, number>> = {};
  private readonly unnamed = new Map<string, number>();

  /** Names one capture's native frames with a fresh symbolizer (cold), then again (warm). */
  measureColdWarm(shot: Snapshot, maps: string): void {
    const pcs = nativePcs(shot);
    if (pcs.length === 0) return;
    const fresh = new Symbolizer({ demangle: binding.demangle, xzDecompress: binding.xzDecompress });
    const time = (): number => {
      const t0 = process.hrtime.bigint();
      fresh.symbolize(shot.pid, maps, pcs);
      return Number(process.hrtime.bigint() - t0);
    };
    this.coldNs = time();
    this.warmNs = time();
    this.frames = pcs.length;
  }

  /** The first snapshot: files its walk parsed (walkLoadNs), and its own parsing and naming. */
  first(shot: Snapshot, walkLoadNs: number): void {
    this.firstNs = walkLoadNs + shot.cost.modulesNs + shot.cost.symbolizeNs;
  }

  /** A named snapshot: where its names came from, and its (warm) naming time per frame. */
  add(shot: Snapshot): void {
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
    if (frames > 0) this.perFrame.push(shot.cost.symbolizeNs / frames);
  }

  result(): NamingResult {
    const per = (ns: number | null) => (ns === null || this.frames === 0 ? null : ns / this.frames);
    return {
      frames: this.frames,
      coldNsPerFrame: per(this.coldNs),
      warmNsPerFrame: per(this.warmNs),
      firstSnapshotNs: this.firstNs,
      snapshotNsPerFrame: distribution(this.perFrame),
      sources: this.sources,
      unnamedReasons: [...this.unnamed]
        .map(([reason, frames]) => ({ reason, frames }))
        .sort((a, b) => b.frames - a.frames || a.reason.localeCompare(b.reason)),
    };
  }
}
