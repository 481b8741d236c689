// pprof (github.com/google/pprof, profile.proto), gzipped, encoded with the `pprof-format` package.
// Read it with `go tool pprof`, Grafana Pyroscope, Datadog, speedscope, ...
//
//   sample types  samples/count and wall/nanoseconds (wall only when the interval is known)
//   samples       one per thread sample (see ProfileBuilder): count 1, and the wall time it
//                 stands for (the real interval since the previous snapshot: see ProfileOptions);
//                 labels "thread id", "thread name", "thread state" and "timestamp_ns" (the
//                 capture time, nanoseconds since the epoch)
//   locations     one per distinct address: the pc of innermost and signal frames, pc - 1 for
//                 return addresses (the call instruction, as the symbolizer looked it up); frames
//                 inlined at one address (`lines`) are one location each, with that address
//   mappings      per module and load base: the span of addresses sampled in it. Build ids are
//                 not in the Snapshot contract, so Mapping.build_id is left empty.
//   functions     per (name, module): name and system_name are the frame name; filename the
//                 source file when the frames have lines (`lines`), else the module
//   lines         one per location, with the source line when known (go tool pprof -list)
import * as zlib from 'node:zlib';
import type * as PprofFormat from 'pprof-format';
import type { Mapping, Profile, Sample } from 'pprof-format';
import { toBuilder, type ProfileBuilder, type ProfileInput, type ProfileOptions } from './profile';

/** pprof-format, loaded on first use: `require('stackshot')` and the CLI start without it. */
function pprofFormat(): typeof PprofFormat {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('pprof-format') as typeof PprofFormat;
}

export interface PprofOptions extends ProfileOptions {
  /** Do not gzip (default false: pprof files are gzipped). */
  uncompressed?: boolean;
}

type Pprof = typeof PprofFormat;
type Str = (s: string) => number;

/** A mapping: one (module, load base), spanning the addresses sampled in it. */
interface Span {
  id: number;
  module: string;
  base: bigint;
  lo: bigint;
  hi: bigint;
}

/**
 * Mappings, and each location's mapping id (0: none). The executable (the module of the main
 * thread's outermost frame) goes first: pprof takes mapping 1 as the main binary.
 */
function mappingsOf(b: ProfileBuilder, str: Str, P: Pprof): { mapping: Mapping[]; locMapping: number[] } {
  const mappingOf = new Map<string, Span>();
  const locSpan: (Span | null)[] = [];
  for (const loc of b.locations) {
    if (loc.module === null || loc.base === null || loc.address === null) {
      locSpan.push(null);
      continue;
    }
    const key = `${loc.module}\0${loc.base.toString(16)}`;
    let m = mappingOf.get(key);
    if (m === undefined) {
      m = { id: 0, module: loc.module, base: loc.base, lo: loc.address, hi: loc.address };
      mappingOf.set(key, m);
    }
    if (loc.address < m.lo) m.lo = loc.address;
    if (loc.address > m.hi) m.hi = loc.address;
    locSpan.push(m);
  }
  const spans = [...mappingOf.values()];
  const mainFirst = spans
    .filter((m) => m.module === b.mainModule)
    .concat(spans.filter((m) => m.module !== b.mainModule));
  mainFirst.forEach((m, i) => (m.id = i + 1));
  const mapping = mainFirst.map(
    (m) =>
      new P.Mapping({
        id: m.id,
        memoryStart: m.lo,
        memoryLimit: m.hi + 1n,
        fileOffset: m.lo - m.base >= 0n ? m.lo - m.base : 0n,
        filename: str(m.module),
        buildId: 0, // not known: the Snapshot contract carries no build ids (yet)
        hasFunctions: true,
      }),
  );
  return { mapping, locMapping: locSpan.map((m) => (m === null ? 0 : m.id)) };
}

/** Functions (id = index + 1) and locations (id = index + 1, one line each). */
function symbolsOf(
  b: ProfileBuilder,
  str: Str,
  P: Pprof,
  locMapping: number[],
): Pick<Profile, 'function' | 'location'> {
  const fn = b.functions.map(
    (f, i) =>
      new P.Function({
        id: i + 1,
        name: str(f.name),
        systemName: str(f.name),
        filename: f.file !== undefined ? str(f.file) : f.module === null ? 0 : str(f.module),
      }),
  );
  const location = b.locations.map(
    (loc, i) =>
      new P.Location({
        id: i + 1,
        mappingId: locMapping[i]!,
        address: loc.address ?? 0n,
        line: [new P.Line({ functionId: loc.fn + 1, line: loc.line ?? 0 })],
      }),
  );
  return { function: fn, location };
}

/** One pprof sample per thread sample: [count 1, its wall time in ns when known], with labels. */
function samplesOf(b: ProfileBuilder, str: Str, P: Pprof, intervalMs: number | undefined): Sample[] {
  const kThreadId = str('thread id');
  const kThreadName = str('thread name');
  const kState = str('thread state');
  const kTimestamp = str('timestamp_ns');
  const kNs = str('nanoseconds');
  const sample: Sample[] = [];
  for (const track of b.threads.values()) {
    const name = str(track.name);
    const weights = b.weightsMs(track, intervalMs);
    for (let i = 0; i < track.stacks.length; i++) {
      // pprof lists locations from the leaf to the root.
      const locationId = b.stacks[track.stacks[i]!]!.map((l) => l + 1).reverse();
      const value: bigint[] = weights === undefined ? [1n] : [1n, BigInt(Math.round(weights[i]! * 1e6))];
      sample.push(
        new P.Sample({
          locationId,
          value,
          label: [
            new P.Label({ key: kThreadId, num: track.tid }),
            new P.Label({ key: kThreadName, str: name }),
            new P.Label({ key: kState, str: str(track.states[i]!) }),
            new P.Label({ key: kTimestamp, num: BigInt(Math.round(track.times[i]!)) * 1_000_000n, numUnit: kNs }),
          ],
        }),
      );
    }
  }
  return sample;
}

/** The snapshots as a pprof Profile object (see toPprof for the encoded file). */
export function toPprofProfile(input: ProfileInput, opts: PprofOptions = {}): Profile {
  const P = pprofFormat();
  const b = toBuilder(input, opts);
  const strings = new P.StringTable();
  const str = (s: string): number => strings.dedup(s);

  const intervalMs = b.intervalMs(opts.intervalMs);
  const intervalNs = intervalMs === undefined ? undefined : BigInt(Math.round(intervalMs * 1e6));
  const sampleType = [new P.ValueType({ type: str('samples'), unit: str('count') })];
  if (intervalNs !== undefined) sampleType.push(new P.ValueType({ type: str('wall'), unit: str('nanoseconds') }));

  const { mapping, locMapping } = mappingsOf(b, str, P);
  const symbols = symbolsOf(b, str, P, locMapping);
  const sample = samplesOf(b, str, P, intervalMs);
  const comment = [
    str(
      `stackshot: pid ${b.pid ?? '?'}${b.command ? ` (${b.command})` : ''}, ${b.snapshots} snapshots, ${b.samples} thread samples, state ${b.state}`,
    ),
    str('mapping build ids are not recorded (the snapshot carries none)'),
  ];
  const startNs = Number.isFinite(b.startMs) ? BigInt(Math.round(b.startMs)) * 1_000_000n : 0n;
  const spanNs = Number.isFinite(b.startMs) ? BigInt(Math.round(b.endMs - b.startMs)) * 1_000_000n : 0n;
  return new P.Profile({
    sampleType,
    sample,
    mapping,
    ...symbols,
    stringTable: strings,
    timeNanos: startNs,
    durationNanos: spanNs + (intervalNs ?? 0n),
    periodType:
      intervalNs === undefined
        ? new P.ValueType({ type: str('samples'), unit: str('count') })
        : new P.ValueType({ type: str('wall'), unit: str('nanoseconds') }),
    period: intervalNs ?? 1n,
    comment,
    defaultSampleType: intervalNs === undefined ? str('samples') : str('wall'),
  });
}

/** The snapshots as a pprof file: gzipped protobuf (unless opts.uncompressed). */
export function toPprof(input: ProfileInput, opts: PprofOptions = {}): Buffer {
  const raw = toPprofProfile(input, opts).encode();
  return opts.uncompressed ? Buffer.from(raw) : zlib.gzipSync(raw);
}

/** Decode a pprof file (gzipped or not) with pprof-format. */
export function decodePprof(data: Uint8Array): Profile {
  const gz = data.length >= 2 && data[0] === 0x1f && data[1] === 0x8b;
  return pprofFormat().Profile.decode(gz ? zlib.gunzipSync(data) : data);
}
