// The report as tables in the terminal.
import type { Distribution } from './types';
import { baseName, bytes, dur, num, plural, times } from './format-units';
import type { BenchmarkReport, MethodResult, PathResult, ReferenceResult } from './types';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

const spread = (d: Distribution, f: (n: number | null) => string) => `${f(d.median)} / ${f(d.p90)} / ${f(d.max)}`;

function counts(c: Partial<Record<string, number>>): string {
  const e = Object.entries(c).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0));
  return e.length === 0 ? '-' : e.map(([k, v]) => `${k} ${v}`).join(', ');
}

function methodsTable(ms: MethodResult[]): string {
  const rows = ms.map((m) => [
    m.method,
    String(m.stacks),
    String(m.complete),
    spread(m.frames, num),
    dur(m.walkNsPerFrame.median),
    dur(m.walkNsPerStack.median),
    counts(m.ends),
  ]);
  return table(
    ['method', 'stacks', 'complete', 'frames med/p90/max', 'walk per frame', 'per stack', 'incomplete: why'],
    rows,
  );
}

function kindsTable(ms: MethodResult[]): string {
  const [fp, hybrid] = ms as [MethodResult, MethodResult];
  const fpKind = new Map(fp.kinds.map((k) => [k.kind, k]));
  const rows = hybrid.kinds.map((h) => {
    const f = fpKind.get(h.kind);
    return [
      h.kind,
      String(h.stacks),
      `${f?.complete ?? 0} / ${num(f?.frames.median)}`,
      `${h.complete} / ${num(h.frames.median)}`,
      `${dur(f?.walkNsPerFrame.median ?? null)} / ${dur(h.walkNsPerFrame.median)}`,
      `${dur(f?.walkNsPerStack.median ?? null)} / ${dur(h.walkNsPerStack.median)}`,
      counts(f?.ends ?? {}),
    ];
  });
  return table(
    [
      'thread kind',
      'stacks',
      'fp complete / frames',
      'hybrid complete / frames',
      'walk per frame fp / hybrid',
      'per stack fp / hybrid',
      'fp incomplete: why',
    ],
    rows,
  );
}

function pathsTable(ps: PathResult[]): string {
  const rows = ps.map((p) => [
    p.path,
    String(p.captures),
    spread(p.pauseNs, dur),
    String(p.notStopped),
    counts(p.served),
    `${dur(p.kernel.runDelayNs.median)} / ${dur(p.kernel.runDelayNs.max)}`,
    `${num(p.kernel.contextSwitches.median)} / ${num(p.kernel.contextSwitches.max)}`,
    bytes(p.bytesCopied.median),
    dur(p.captureNs.median),
  ]);
  return table(
    [
      'path',
      'captures',
      'pause per stopped thread med/p90/max',
      'not stopped',
      'served by',
      'kernel run delay med/max',
      'ctx switches med/max',
      'bytes copied',
      'capture+walk',
    ],
    rows,
  );
}

function fallbackLines(ps: PathResult[]): string {
  return ps
    .filter((p) => Object.keys(p.fallbacks).length > 0)
    .map((p) => `  ${p.path}: stopped after all (${counts(p.fallbacks)})\n`)
    .join('');
}

function namingBlock(r: BenchmarkReport): string {
  const n = r.naming;
  let s =
    `naming: ${plural(n.frames, 'frame')}, files parsed and frames named per frame: cold ${dur(n.coldNsPerFrame)} ` +
    `(module cache off), ${n.coldDiskCacheNsPerFrame === null ? 'module cache not in use' : `${dur(n.coldDiskCacheNsPerFrame)} (module cache filled)`}, ` +
    `warm ${dur(n.warmNsPerFrame)}; a whole snapshot's naming, warm: ${dur(n.snapshotNsPerFrame.median)} per frame\n` +
    `  first snapshot of the run: ${dur(n.firstSnapshotNs)} parsing files and naming, module cache ` +
    `${n.firstSnapshotDiskCache ? 'on' : 'off'} (cold if nothing named this process before)\n` +
    `  named by (all rounds): ${counts(n.sources)}\n`;
  for (const u of n.unnamedReasons.slice(0, 5)) s += `  unnamed ${u.frames}: ${u.reason}\n`;
  return s;
}

function referencesTable(refs: ReferenceResult[]): string {
  const rows = refs.map((x) => [
    x.tool,
    x.status === 'failed' ? `failed: ${x.error ?? ''}` : x.status,
    dur(x.wallNs),
    times(x.wallRatio),
    x.stacks === undefined ? 'n/a' : String(x.stacks),
    x.frames === undefined ? 'n/a' : num(x.frames.median),
    times(x.framesRatio),
  ]);
  return table(['reference', 'status', 'wall', 'vs stackshot', 'stacks', 'frames med', 'frames vs stackshot'], rows);
}

/** Wraps a paragraph at width columns. */
function wrap(text: string, width = 100): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.join('\n') + '\n';
}

export function formatBenchmarkText(r: BenchmarkReport): string {
  let s = `stackshot bench: pid ${r.pid} (${r.command}), ${plural(r.plan.threads, 'thread')}, ${plural(r.rounds, 'round')} in ${dur(r.elapsedMs * 1e6)}, ${plural(r.stops, 'thread stop')}\n`;
  if (r.partial !== undefined) s += `PARTIAL: ${r.partial.message}\n`;
  s += '\nunwinding methods, on the same ptrace captures:\n' + methodsTable(r.methods);
  if (r.fpLoss.breakers.length > 0) {
    s += `  fp lost ${r.fpLoss.lost} (hybrid recovered ${r.fpLoss.recovered}), in: ${r.fpLoss.breakers.map((b) => `${baseName(b.module)} ${b.stacks}`).join(', ')}\n`;
  }
  s += '\n' + kindsTable(r.methods);
  s += '\ncapture paths (kernel figures: /proc/<pid>/task/<tid>/schedstat and status, per thread over a capture):\n';
  s += pathsTable(r.paths) + fallbackLines(r.paths);
  s += '\n' + namingBlock(r);
  if (r.references !== undefined) s += '\n' + referencesTable(r.references);
  return s + '\n' + wrap(r.verdict);
}
