// The output formats of `stackshot record`, chosen by name or by the output file's extension.
import * as path from 'node:path';
import type * as FlameGraph from './flamegraph-svg';
import type * as Folded from './folded';
import type * as Pprof from './pprof';
import type { ProfileBuilder } from './profile';
import type * as Speedscope from './speedscope';
import type { Snapshot } from '../types';

// Each renderer is loaded when its format is asked for: every CLI start (`stackshot <pid>`
// too) loads this file for the format names, and the renderers (pprof's protobuf encoder,
// the flame graph's script) would add to each start for nothing.
/* eslint-disable @typescript-eslint/no-require-imports */

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
export function renderProfile(
  format: Exclude<RecordFormat, 'json'>,
  b: ProfileBuilder,
  opts: RenderOptions = {},
): string | Buffer {
  const base = { intervalMs: opts.intervalMs };
  switch (format) {
    case 'folded': {
      const fo: Folded.FoldedOptions = { ...base, threadRoot: opts.threadRoot ? 'name' : false };
      return (require('./folded') as typeof Folded).toFolded(b, fo);
    }
    case 'speedscope':
      return `${JSON.stringify((require('./speedscope') as typeof Speedscope).toSpeedscope(b, base))}\n`;
    case 'pprof':
      return (require('./pprof') as typeof Pprof).toPprof(b, base);
    case 'svg': {
      const fg: FlameGraph.FlameGraphOptions = { ...base, threadRoot: opts.threadRoot ?? true };
      if (opts.title !== undefined) fg.title = opts.title;
      return (require('./flamegraph-svg') as typeof FlameGraph).toFlameGraph(b, fg);
    }
  }
}
