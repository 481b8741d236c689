// What every native naming source answers: given a pc's place (its mapping, and for a module
// its parsed file and link-time address), a name or a typed reason. The symbolizer picks the
// sources of each mapping (symbolizer.ts, resolversFor) and tries them in order.
import type { MapEntry } from '../../procfs/maps';
import type { SymbolReason } from '../../types';
import type { Module } from '../module-cache';

export interface PcPlace {
  /** The process whose files and perf map are read (OFFLINE for a saved capture). */
  pid: number;
  m: MapEntry;
  /** The lookup address: the pc, or pc − 1 for a return address. */
  at: bigint;
  /** The mapping's module (a mapped file, or the vdso's image). */
  module?: Module;
  /** `at`'s link-time address in the module; undefined outside its loadable segments. */
  vaddr?: bigint;
}

/** A name, with `offset` = lookup address − the symbol's start, or why there is none. */
export type Resolution =
  | { symbol: string; offset: number; reason?: undefined }
  | { symbol?: undefined; reason: SymbolReason; detail?: string };

export interface Resolver {
  resolve(place: PcPlace): Resolution;
}

/** The first source's name; when none names the pc, the first source's reason (the most telling). */
export function resolveFirst(sources: readonly Resolver[], place: PcPlace): Resolution {
  let first: Resolution | undefined;
  for (let i = 0; i < sources.length; i++) {
    const r = sources[i].resolve(place);
    if (r.symbol !== undefined) return r;
    first ??= r;
  }
  return first ?? { reason: 'no-symbol-covers' };
}
