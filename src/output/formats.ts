// The output formats of `stackshot record`, chosen by name or by the output file's extension.
import * as path from 'node:path';
import { toFlameGraph, type FlameGraphOptions } from './flamegraph-svg';
import { toFolded, type FoldedOptions } from './folded';
import { toPprof } from './pprof';
import type { ProfileBuilder } from './profile';
import { toSpeedscope } from './speedscope';
import type { Snapshot } from '../types';

export type RecordFormat = 'folded' | 'speedscope' | 'pprof' | 'json' | 'svg';

export const RECORD_FORMATS: readonly RecordFormat[] = ['folded', 'speedscope', 'pprof', 'json', 'svg'];

/**
 * The format a file name implies, or undefined:
 *   .folded .collapsed .txt → folded       .speedscope.json .speedscope → speedscope
 *   .pb.gz .pprof .pb       → pprof        .json .jsonl .ndjson          → json (one snapshot per line)
 *   .svg                    → svg
 */
export function formatFromPath(file: string): RecordFormat | undefined {
  const base = path.basename(file).toLowerCase();
  if (base.endsWith('.speedscope.json') || base.endsWith('.speedscope')) return 'speedscope';
  if (base.endsWith('.pb.gz') || base.endsWith('.pprof') || base.endsWith('.pb')) return 'pprof';
  if (base.endsWith('.folded') || base.endsWith('.collapsed') || base.endsWith('.txt')) return 'folded';
  if (base.endsWith('.json') || base.endsWith('.jsonl') || base.endsWith('.ndjson')) return 'json';
  if (base.endsWith('.svg')) return 'svg';
  return undefined;
}

/** One snapshot as one line of JSON (the Snapshot contract), newline-terminated. */
export function toJsonLine(shot: Snapshot): string {
  return `${JSON.stringify(shot)}\n`;
}

export interface RenderOptions {
  /** Wall time per sample in ms (1000 / hz). */
  intervalMs?: number;
  /** Thread roots in folded output (default none) and flame graphs (default by name). */
  threadRoot?: boolean;
  /** Flame graph title. */
  title?: string;
}

/** A profile format rendered from a builder (json is streamed, not rendered: see record-command). */
export function renderProfile(format: Exclude<RecordFormat, 'json'>, b: ProfileBuilder, opts: RenderOptions = {}): string | Buffer {
  const base = { intervalMs: opts.intervalMs };
  switch (format) {
    case 'folded': {
      const fo: FoldedOptions = { ...base, threadRoot: opts.threadRoot ? 'name' : false };
      return toFolded(b, fo);
    }
    case 'speedscope':
      return `${JSON.stringify(toSpeedscope(b, base))}\n`;
    case 'pprof':
      return toPprof(b, base);
    case 'svg': {
      const fg: FlameGraphOptions = { ...base, threadRoot: opts.threadRoot ?? true };
      if (opts.title !== undefined) fg.title = opts.title;
      return toFlameGraph(b, fg);
    }
  }
}
