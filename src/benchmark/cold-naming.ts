// What "cold" means, in `stackshot bench` and in `npm run bench` alike (both call this): one
// capture unwound and named by a symbolizer with a module registry of its own, so every module
// file is opened and its unwind tables and names are built, as for the first snapshot of a
// fresh process. The figure is that snapshot's `modulesNs + symbolizeNs` (files parsed for the
// walk and for the names, plus naming). It is taken twice: with the persistent module cache off
// (everything parsed from the files) and with it on and filled with this process's modules
// (what a CLI run pays from its second run on). Not included: starting node and loading
// stackshot (npm run bench's cold CLI section measures those).
import { binding } from '../addon';
import { cacheDir, persistentCacheEnabled, setPersistentCacheEnabled } from '../cache/cache-dir';
import { buildSnapshot, type Captured } from '../snapshot';
import { Symbolizer } from '../symbolize/symbolizer';
import type { Snapshot } from '../types';

export interface ColdWarm {
  /** Frames of the snapshot (runtime frames included). */
  frames: number;
  /** Persistent cache off: every file parsed, ns. */
  coldNs: number;
  /** Persistent cache on and filled, ns; null when the cache is off or unusable here. */
  coldDiskCacheNs: number | null;
  /** The same capture named again by the same symbolizer (modules and names cached), ns. */
  warmNs: number;
}

const cost = (s: Snapshot): number => s.cost.modulesNs + s.cost.symbolizeNs;

/** c walked and named by `fresh` (a registry of its own; the shared one is left as it was). */
function snapshotWith(c: Captured, fresh: Symbolizer): Snapshot {
  return buildSnapshot(c.raw, c.opts, process.hrtime.bigint(), { ...c.origin, symbolizer: fresh });
}

function withFresh<T>(f: (fresh: Symbolizer) => T): T {
  const fresh = new Symbolizer({ demangle: binding.demangle, xzDecompress: binding.xzDecompress });
  try {
    return f(fresh);
  } finally {
    fresh.modules.clear(); // frees its native unwind tables now, not at some collection
  }
}

/** The persistent cache is on (and usable) for this process. */
export function diskCacheInUse(): boolean {
  return persistentCacheEnabled() && cacheDir() !== null;
}

/** Cold (cache off, then cache filled) and warm naming of one capture. */
export function measureColdWarm(c: Captured): ColdWarm {
  const useDisk = diskCacheInUse();
  const wasEnabled = persistentCacheEnabled();
  setPersistentCacheEnabled(false);
  let off: Snapshot;
  let warm: Snapshot | undefined;
  try {
    off = withFresh((fresh) => {
      const shot = snapshotWith(c, fresh);
      if (!useDisk) warm = snapshotWith(c, fresh);
      return shot;
    });
  } finally {
    setPersistentCacheEnabled(wasEnabled);
  }
  let coldDiskCacheNs: number | null = null;
  if (useDisk) {
    withFresh((fresh) => snapshotWith(c, fresh)); // fills the cache with what it lacks
    coldDiskCacheNs = withFresh((fresh) => {
      const shot = snapshotWith(c, fresh);
      warm = snapshotWith(c, fresh);
      return cost(shot);
    });
  }
  const frames = off.threads.reduce((n, t) => n + t.frames.length, 0);
  return { frames, coldNs: cost(off), coldDiskCacheNs, warmNs: cost(warm!) };
}
