// `stackshot <pid> --explain`: per thread, where a frame-pointer-only profiler would lose the
// stack, which module broke the chain, and whether stackshot's CFI walk recovered it.
//
//   5 of 7 threads would be cut short by a frame-pointer-only profiler (perf --call-graph fp); stackshot recovered 5
//
//   TID 1234 "node" — cut short: fp walk 1 frame (end-of-chain), hybrid 14 frames (complete) — recovered
//     broke at  #0 epoll_wait  (/usr/lib/x86_64-linux-gnu/libc.so.6)
//     missed    #1 uv__io_poll  (/usr/bin/node)
import { explain, type ExplainOptions } from '../audit/explain';
import type { ExplainFrame, ExplainReport, ExplainThread } from '../audit/types';

export interface ExplainCliOptions {
  json?: boolean;
  schedule?: ExplainOptions['schedule'];
  threads?: number[];
  maxFrames?: number;
  stackBytes?: number;
  stopTimeout?: number;
}

function frameText(f: ExplainFrame | null): string {
  if (f === null) return '(none)';
  return `#${f.index} ${f.symbol ?? '??'}  (${f.module ?? '?'})`;
}

function threadLine(t: ExplainThread): string {
  const fp = `fp walk ${t.fp.frames} frame${t.fp.frames === 1 ? '' : 's'} (${t.fp.complete ? 'complete' : t.fp.end})`;
  const hy = `hybrid ${t.hybrid.frames} (${t.hybrid.complete ? 'complete' : t.hybrid.end})`;
  switch (t.status) {
    case 'cut-short':
      return `cut short: ${fp}, ${hy} — ${t.recovered ? 'recovered' : 'NOT recovered'}`;
    case 'skipped-frames':
      return `frames skipped: ${fp}, ${hy}`;
    case 'intact':
      return `intact: ${fp}`;
    case 'not-captured':
      return 'not captured';
  }
}

/** The report as text for people. */
export function formatExplainText(r: ExplainReport): string {
  const lines: string[] = [`PID ${r.pid} (${r.command}) — ${r.summary}`];
  if (r.breakers.length > 0) {
    lines.push(
      `Frame-pointer chain broken in: ${r.breakers.map((b) => `${b.module} (${b.threads} thread${b.threads === 1 ? '' : 's'})`).join(', ')}`,
    );
  }
  lines.push(`(${r.method})`);
  for (const t of r.threads) {
    lines.push('');
    lines.push(`TID ${t.tid} "${t.name}" — ${threadLine(t)}`);
    if (t.status === 'cut-short' || t.status === 'skipped-frames') {
      lines.push(`  broke at  ${frameText(t.brokeAt)}`);
      lines.push(`  missed    ${frameText(t.missed)}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Text, or JSON (the ExplainReport) with `json`. */
export function formatExplain(r: ExplainReport, opts: { json?: boolean } = {}): string {
  return opts.json ? JSON.stringify(r, null, 2) + '\n' : formatExplainText(r);
}

/** The snapshot options given on the command line. */
function toExplainOptions(o: ExplainCliOptions): ExplainOptions {
  const opts: ExplainOptions = {};
  if (o.schedule !== undefined) opts.schedule = o.schedule;
  if (o.threads !== undefined) opts.threads = o.threads;
  if (o.maxFrames !== undefined) opts.maxFrames = o.maxFrames;
  if (o.stackBytes !== undefined) opts.stackBytes = o.stackBytes;
  if (o.stopTimeout !== undefined) opts.stopTimeoutMs = o.stopTimeout;
  return opts;
}

/**
 * Runs `stackshot <pid> --explain` and writes the result with `out`. Returns 0; failures throw
 * (StackshotError, RangeError for bad options), for the CLI's usual error report.
 */
export async function runExplain(
  pid: number | string,
  o: ExplainCliOptions = {},
  out: (s: string) => void = (s) => process.stdout.write(s),
): Promise<number> {
  const report = await explain(pid as number, toExplainOptions(o));
  out(formatExplain(report, o));
  return 0;
}
