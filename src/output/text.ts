// Human-readable snapshot, in the spirit of eu-stack / gstack. Pure: no I/O, no clock.
//
//   PID 1234 (node) — 7 threads, rolling, 0.41 ms (max pause 23 µs)
//
//   TID 1234 "node" S — complete (thread-entry), 12 frames
//   #0  0x00007f3a1c2e1c6a  epoll_wait+0x1a  (/usr/lib/x86_64-linux-gnu/libc.so.6)
//   #1  0x0000558e4a1b2c3d  ??  (/usr/bin/node+0x1b2c3d)
//   #2  0x00007f3a0c03c25c  isPrime+0xc6  (JS optimized, /app/workload.js:42:17)
//   #3  0x000000000052b9e0  handle  (Python, /app/job.py:17)
//
// With --lines, calls inlined at a frame's pc come first, at the same pc, marked `(inlined)`:
//   #3  0x000055d0c1a032e0  wait_inner (inlined)  (/srv/app)  at /src/app.c:49
//   #4  0x000055d0c1a032e0  wait_outer+0x30  (/srv/app)  at /src/app.c:60
//
// JIT frames named by a runtime's perf map are shown split into name and note (see
// readableJitName); JSON and the profile formats keep the runtime's own string.
import { styleText } from 'node:util';
import { unnamedJitHint } from '../symbolize/jit-hint';
import { readableJitName, type ReadableJitName } from '../symbolize/perf-map';
import type { EndReason, Frame, Snapshot, ThreadStack } from '../types';

export interface TextOptions {
  /** ANSI colors (default false). */
  color?: boolean;
}

/** What each end reason means, for the headers of incomplete stacks. */
export const END_REASON_TEXT: Record<EndReason, string> = {
  'thread-entry': 'reached the thread entry',
  'end-of-chain': 'frame chain ended before the thread entry',
  'fp-not-increasing': 'frame pointer did not move up the stack',
  'fp-misaligned': 'misaligned frame pointer',
  'fp-outside-stack': 'frame pointer left the stack',
  'cfa-outside-stack': 'the unwind tables led outside the stack',
  'ra-not-executable': 'return address outside executable code',
  'max-frames': 'frame limit reached (raise --max-frames)',
  'copy-exhausted': 'ran past the copied stack bytes (raise --stack-bytes)',
  'stack-unreadable': 'the stack beyond could not be read (a page not in memory, PROT_NONE or SIGBUS-backed)',
  'cfa-not-increasing': 'unwind rule pointed down the stack',
  'register-unknown': 'needs a register a stop-free capture does not have',
  'interrupted-stack-unreadable': 'the stack a signal handler on sigaltstack interrupted could not be read',
  'not-captured': 'not captured',
};

const FAILURE_TEXT: Record<string, string> = {
  exited: 'exited during the snapshot',
  timeout: 'did not stop in time',
  failed: 'could not be stopped',
};

/** A nanosecond duration as "830 ns", "23 µs" (below 0.1 ms), "0.41 ms", "1.25 s". */
export function formatDuration(ns: number): string {
  if (!Number.isFinite(ns) || ns < 0) return '? ms';
  if (ns < 1_000) return `${Math.round(ns)} ns`;
  if (ns < 100_000) return `${Math.round(ns / 1_000)} µs`;
  if (ns < 1_000_000_000) return `${(ns / 1_000_000).toFixed(2)} ms`;
  return `${(ns / 1_000_000_000).toFixed(2)} s`;
}

/** A byte count as "512 B", "12.0 KiB", "1.5 MiB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** "0x7f3a…" → "0x00007f3a1c2e1c6a" (16 hex digits); other strings unchanged. */
export function padAddress(pc: string): string {
  const m = /^0x([0-9a-fA-F]+)$/.exec(pc);
  if (!m) return pc;
  const hex = m[1]!.toLowerCase().replace(/^0+(?=.)/, '');
  return '0x' + hex.padStart(16, '0');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

interface Painter {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
  cyan(s: string): string;
}

type Style = Parameters<typeof styleText>[0];

function painter(color: boolean): Painter {
  // The caller decided (the CLI by Node's FORCE_COLOR/NO_COLOR/TTY rule): no second check here.
  const wrap = (style: Style) => (s: string) => (color ? styleText(style, s, { validateStream: false }) : s);
  return {
    bold: wrap('bold'),
    dim: wrap('dim'),
    red: wrap('red'),
    yellow: wrap('yellow'),
    green: wrap('green'),
    cyan: wrap('cyan'),
  };
}

/** The symbol part of a frame: "name+0x1a", or "??" when unknown (JSON keeps null). */
export function frameSymbolText(frame: Frame): string {
  if (frame.kind === 'js') return frame.symbol || '(anonymous)';
  if (frame.symbol === null || frame.symbol === '') return '??';
  const name = jitName(frame)?.name ?? frame.symbol;
  const off = frame.symbolOffset;
  return off === null ? name : `${name}+0x${off.toString(16)}`;
}

/** A perf-map name of JIT code (in memory no file backs), split for reading; null otherwise. */
function jitName(frame: Frame): ReadableJitName | null {
  if (frame.symbol === null || frame.module === null || frame.module.startsWith('/')) return null;
  return readableJitName(frame.symbol);
}

/** "Python, /app/job.py:17": a Python frame's note, with as much of its place as is known. */
function pythonNote(frame: Frame): string {
  if (frame.file === undefined) return 'Python';
  return frame.line === undefined ? `Python, ${frame.file}` : `Python, ${frame.file}:${frame.line}`;
}

/**
 * The module part of a frame: "(/lib/libc.so.6)", "(/lib/libfoo.so+0x1234)" when the symbol is
 * unknown, "(JS optimized, /app/w.js:42:17)" for JIT code a runtime named, "(Python, /app/job.py:17)"
 * for a Python function's frame, or "".
 */
export function frameModuleText(frame: Frame): string {
  if (frame.kind === 'python') return `(${pythonNote(frame)})`;
  if (frame.kind === 'js') return `(${jsNote(frame)})`;
  if (frame.module === null) return '';
  const jit = jitName(frame);
  if (jit !== null) return `(${jit.note})`;
  if (frame.symbol === null && frame.moduleOffset !== null) return `(${frame.module}+${frame.moduleOffset})`;
  return `(${frame.module})`;
}

/** "JS optimized, /app/w.js:42:17": the tier V8 ran a JavaScript frame at, and where it is. */
function jsNote(frame: Frame): string {
  const tier = frame.jsTier === undefined ? 'JS' : `JS ${frame.jsTier}`;
  if (frame.file === undefined) return tier;
  if (frame.line === undefined) return `${tier}, ${frame.file}`;
  return `${tier}, ${frame.file}:${frame.line}${frame.column === undefined ? '' : `:${frame.column}`}`;
}

function formatFrame(frame: Frame, index: number, indexWidth: number, p: Painter): string {
  const idx = `#${index}`.padEnd(indexWidth);
  const sym = frameSymbolText(frame);
  const mod = frameModuleText(frame);
  let line = `${idx}  ${p.dim(padAddress(frame.pc))}  ${sym === '??' ? p.yellow(sym) : p.cyan(sym)}`;
  if (frame.inlined === true) line += ` ${p.dim('(inlined)')}`;
  if (mod !== '') line += `  ${p.dim(mod)}`;
  if (frame.method === 'signal') line += `  ${p.dim('<signal frame>')}`;
  // A runtime's frame says where it is in its note already.
  if (frame.file !== undefined && frame.kind === undefined) line += `  at ${frame.file}:${frame.line}`;
  return line;
}

function threadHeader(t: ThreadStack, p: Painter): string {
  const head = `TID ${t.tid} ${JSON.stringify(t.name)} ${t.state}`;
  if (t.failure !== undefined) {
    const why = FAILURE_TEXT[t.failure] ?? t.failure;
    const by = t.tracer?.command ? ` (${t.tracer.command})` : '';
    const tracer = t.tracer ? `: already traced by pid ${t.tracer.pid}${by}` : '';
    const code = t.failureCode ? ` (${t.failureCode}${tracer})` : '';
    return `${p.bold(head)} — ${p.red(`not captured: ${why}${code}`)}`;
  }
  const frames = plural(t.frames.length, 'frame');
  if (t.notJudged)
    return `${p.bold(head)} — ${frames} (${t.end}; completeness is judged by name: not with --no-symbolize)`;
  if (t.complete) return `${p.bold(head)} — ${p.green(`complete (${t.end})`)}, ${frames}`;
  const why = END_REASON_TEXT[t.end] ?? t.end;
  return `${p.bold(head)} — ${p.yellow(`incomplete (${t.end}: ${why})`)}, ${frames}`;
}

/** The snapshot's first line: process, thread count, schedule, cost. */
export function formatSnapshotHeader(snap: Snapshot, opts: TextOptions = {}): string {
  const p = painter(opts.color === true);
  const n = snap.threads.length;
  const notes: string[] = [];
  const failed = snap.threads.filter((t) => t.failure !== undefined).length;
  const incomplete = snap.threads.filter((t) => t.failure === undefined && !t.complete && !t.notJudged).length;
  if (incomplete > 0) notes.push(`${incomplete} incomplete`);
  if (failed > 0) notes.push(`${failed} not captured`);
  const counts = plural(n, 'thread') + (notes.length > 0 ? ` (${notes.join(', ')})` : '');
  return (
    p.bold(`PID ${snap.pid} (${snap.command})`) +
    ` — ${counts}, ${snap.schedule}, ${formatDuration(snap.cost.totalNs)} (max pause ${formatDuration(snap.cost.pauseNsMax)})`
  );
}

/** One thread: header line, then one line per frame. */
export function formatThreadText(t: ThreadStack, opts: TextOptions = {}): string {
  const p = painter(opts.color === true);
  const lines = [threadHeader(t, p)];
  const width = String(Math.max(0, t.frames.length - 1)).length + 1;
  t.frames.forEach((f, i) => lines.push(formatFrame(f, i, width, p)));
  return lines.join('\n');
}

/** The whole snapshot as text, ending with a newline; a hint last when JIT frames have no names. */
export function formatSnapshotText(snap: Snapshot, opts: TextOptions = {}): string {
  const parts = [formatSnapshotHeader(snap, opts)];
  for (const t of snap.threads) parts.push(formatThreadText(t, opts));
  const hint = unnamedJitHint(snap);
  if (hint !== null) parts.push(painter(opts.color === true).yellow(`hint: ${hint}`));
  return parts.join('\n\n') + '\n';
}
