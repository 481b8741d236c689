// speedscope's file format (https://www.speedscope.app/file-format-schema.json): one "sampled"
// profile per thread over one shared frames table. Open the file at https://www.speedscope.app
// or with the `speedscope` command.
import { toBuilder, type ProfileInput, type ProfileOptions } from './profile';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

export interface SpeedscopeFrame {
  name: string;
  file?: string;
  line?: number;
  col?: number;
}

export interface SpeedscopeSampledProfile {
  type: 'sampled';
  name: string;
  unit: 'none' | 'nanoseconds' | 'microseconds' | 'milliseconds' | 'seconds' | 'bytes';
  startValue: number;
  endValue: number;
  /** Each sample: indices into shared.frames, from the outermost frame to the innermost. */
  samples: number[][];
  weights: number[];
}

export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampledProfile[];
  name?: string;
  activeProfileIndex?: number;
  exporter?: string;
}

export interface SpeedscopeOptions extends ProfileOptions {
  /** Shown as the file's name in speedscope (default "pid N (command)"). */
  name?: string;
}

/**
 * The snapshots as a speedscope file object (JSON.stringify it to write it). Profiles are named
 * `name (tid)`; each sample weighs the wall time it stands for in milliseconds when the interval
 * is known (see ProfileOptions.intervalMs), else 1 ('none'). The active profile (shown first) is
 * the thread most often on-CPU.
 */
export function toSpeedscope(input: ProfileInput, opts: SpeedscopeOptions = {}): SpeedscopeFile {
  const b = toBuilder(input, opts);
  const interval = b.intervalMs(opts.intervalMs);
  // A function's source file where known (Python frames, `lines`), else its module.
  const frames: SpeedscopeFrame[] = b.functions.map((f) =>
    (f.file ?? f.module) ? { name: f.name, file: f.file ?? f.module! } : { name: f.name },
  );
  const profiles: SpeedscopeSampledProfile[] = [];
  // The profile shown first: the thread most often on-CPU (state R), else the one with most samples.
  let active = 0;
  let best = [-1, -1];
  for (const track of b.threads.values()) {
    const samples = track.stacks.map((s) => b.functionStack(s));
    const weights = b.weightsMs(track, interval) ?? samples.map(() => 1);
    const total = weights.reduce((a, w) => a + w, 0);
    const running = track.states.filter((st) => st === 'R').length;
    if (running > best[0]! || (running === best[0] && samples.length > best[1]!)) {
      best = [running, samples.length];
      active = profiles.length;
    }
    profiles.push({
      type: 'sampled',
      name: `${track.name} (${track.tid})`,
      unit: interval === undefined ? 'none' : 'milliseconds',
      startValue: 0,
      endValue: total,
      samples,
      weights,
    });
  }
  const name = opts.name ?? (b.pid === null ? 'stackshot' : `pid ${b.pid}${b.command ? ` (${b.command})` : ''}`);
  return {
    $schema: SPEEDSCOPE_SCHEMA,
    shared: { frames },
    profiles,
    name,
    activeProfileIndex: active,
    exporter: 'stackshot',
  };
}
