// `stackshot record <pid>`: sample a process at a rate and write a profile.
//
//   stackshot record 1234 --hz 99 --duration 10s -o profile.svg
//   stackshot record 1234 -o out.pb.gz                # pprof, from the extension
//   stackshot record 1234 --state all -o wall.folded  # blocked threads too (default: on-CPU)
//
// Ctrl-C (SIGINT), SIGTERM or SIGHUP end the recording early and still write a complete file; a
// second one exits at once without writing. The target exiting ends the recording with what was
// collected. Files are written under a temporary name and renamed into place, so a reader never
// sees half a file. A progress bar (elapsed, samples, dropped, achieved rate) is drawn on stderr
// when stderr is a terminal.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Option, InvalidArgumentError, type Command } from 'commander';
import type * as CliProgress from 'cli-progress';
import { record, type RecordOptions, type RecordStats } from '../record';
import { ProfileBuilder, STATE_FILTERS, type StateFilter } from '../output/profile';
import { formatFromPath, renderProfile, RECORD_FORMATS, toJsonLine, type RecordFormat } from '../output/formats';
import { addCaptureOptions, toSnapshotOptions, type SnapshotCliOptions } from './options';
import { checkOutputPath, outputFileError } from '../output/output-file';

export interface RecordCliOptions extends SnapshotCliOptions {
  hz: number;
  duration: number;
  output?: string;
  format?: RecordFormat;
  state: StateFilter;
  threadRoot?: boolean;
  progress?: boolean;
  quiet?: boolean;
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000, min: 60_000, h: 3_600_000 };

/** "10s", "500ms", "1.5m", "10" (seconds) → ms; "inf" → Infinity (until Ctrl-C or the target exits). */
export function parseDuration(value: string): number {
  if (/^\s*(inf|infinity|forever)\s*$/i.test(value)) return Infinity;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|)\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError("expected a duration like 10s, 500ms, 2m or 'inf'.");
  const ms = Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!;
  if (!(ms > 0)) throw new InvalidArgumentError('the duration must be greater than 0.');
  return ms;
}

/** "99", "99hz", "1k" → samples per second. */
export function parseHz(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(k)?\s*(?:hz)?\s*$/i.exec(value);
  if (!m) throw new InvalidArgumentError('expected a rate in Hz, e.g. 99.');
  const hz = Number(m[1]) * (m[2] ? 1000 : 1);
  if (!(hz > 0 && hz <= 10_000)) throw new InvalidArgumentError('the rate must be in (0, 10000] Hz.');
  return hz;
}

/** Which format to write: --format, else the output file's extension, else folded (stdout). */
export function chooseFormat(o: Pick<RecordCliOptions, 'format' | 'output'>): RecordFormat {
  if (o.format !== undefined) return o.format;
  if (o.output === undefined || o.output === '-') return 'folded';
  const f = formatFromPath(o.output);
  if (f === undefined) {
    throw new InvalidArgumentError(
      `cannot tell the format from the file name ${JSON.stringify(path.basename(o.output))}; pass --format ${RECORD_FORMATS.join('|')}`,
    );
  }
  return f;
}

/** Where the profile goes: a file (written to a temporary name, renamed on commit) or stdout. */
class Sink {
  private fd: number;
  private readonly tmp: string | undefined;

  constructor(readonly file: string | undefined) {
    if (file === undefined) {
      this.fd = 1;
      this.tmp = undefined;
    } else {
      this.tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
      try {
        this.fd = fs.openSync(this.tmp, 'w', 0o644);
      } catch (err) {
        throw outputFileError(file, err);
      }
    }
  }

  write(data: string | Buffer): void {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) {
      try {
        off += fs.writeSync(this.fd, buf, off, buf.length - off);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue; // stdout as a non-blocking pipe
        throw e;
      }
    }
  }

  commit(): void {
    if (this.tmp === undefined || this.file === undefined) return;
    fs.closeSync(this.fd);
    this.fd = -1;
    fs.renameSync(this.tmp, this.file);
  }

  /** Remove the temporary file (after a failure or a forced exit). Safe to call at any time. */
  abandon(): void {
    if (this.tmp === undefined) return;
    try {
      if (this.fd >= 0) fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
    this.fd = -1;
    fs.rmSync(this.tmp, { force: true });
  }
}

function fmtSeconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}

interface Progress {
  update(stats: RecordStats): void;
  stop(): void;
}

function progressBar(pid: number, durationMs: number): Progress {
  // Loaded here, not at the top: every `stackshot` command would pay for it.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { SingleBar } = require('cli-progress') as typeof CliProgress;
  const finite = Number.isFinite(durationMs);
  const bar = new SingleBar({
    stream: process.stderr,
    format: finite
      ? 'recording pid {pid} [{bar}] {elapsed}/{total_s} s | {samples} samples | {dropped} dropped | {rate} Hz'
      : 'recording pid {pid} | {elapsed} s | {samples} samples | {dropped} dropped | {rate} Hz | Ctrl-C to stop',
    barsize: 30,
    hideCursor: true,
    clearOnComplete: false,
    fps: 10,
  });
  const payload = (s: RecordStats) => ({
    pid,
    elapsed: fmtSeconds(s.elapsedMs),
    total_s: fmtSeconds(durationMs),
    samples: s.threadSamples,
    dropped: s.dropped,
    rate: s.achievedHz.toFixed(1),
  });
  const zero: RecordStats = {
    samples: 0,
    threadSamples: 0,
    dropped: 0,
    elapsedMs: 0,
    achievedHz: 0,
    hz: 0,
    end: null,
    onCpu: 'ptrace',
    perfLost: 0,
    perfSamples: 0,
  };
  bar.start(finite ? durationMs : 1, 0, payload(zero));
  return {
    update(s) {
      bar.update(finite ? Math.min(s.elapsedMs, durationMs) : 0, payload(s));
    },
    stop() {
      bar.stop();
    },
  };
}

function describeEnd(stats: RecordStats, interrupted: boolean): string {
  switch (stats.end) {
    case 'target-exited':
      return 'the target exited';
    case 'threads-exited':
      return 'the selected threads exited';
    case 'stopped':
      return interrupted ? 'interrupted' : 'stopped';
    case 'max-samples':
      return 'sample limit reached';
    default:
      return 'done';
  }
}

/**
 * "stackshot: done: 290 samples of 2 threads from 297 snapshots (0 dropped) in 3.00 s, 99.0 Hz
 * achieved; wrote x.svg (svg)": the samples every output format holds (rec.stats.threadSamples).
 */
function summaryLine(
  s: RecordStats,
  threads: number,
  interrupted: boolean,
  where: string,
  format: RecordFormat,
  state: StateFilter,
): string {
  const line =
    `stackshot: ${describeEnd(s, interrupted)}: ${s.threadSamples} samples of ${threads} thread${threads === 1 ? '' : 's'} ` +
    `from ${s.samples} snapshots (${s.dropped} dropped) in ${(s.elapsedMs / 1000).toFixed(2)} s, ` +
    `${s.achievedHz.toFixed(1)} Hz achieved; wrote ${where} (${format})\n`;
  if (s.threadSamples > 0 || state !== 'running') return line;
  return `${line}hint: no thread was on a CPU when sampled; --state all records blocked threads too\n`;
}

/** Run a recording as the CLI does; resolves with the stats once the file is written. */
export async function runRecord(pidArg: string, o: RecordCliOptions, out: (s: string) => void): Promise<RecordStats> {
  const format = chooseFormat(o);
  const toStdout = o.output === undefined || o.output === '-';
  if (toStdout && format === 'pprof' && process.stdout.isTTY) {
    throw new InvalidArgumentError('pprof is binary: write it to a file with -o FILE (or redirect stdout)');
  }
  const ropts: RecordOptions = { ...toSnapshotOptions(o), hz: o.hz, durationMs: o.duration, state: o.state };

  // A non-numeric pid goes to the API as is, which rejects it with the usual message.
  const pid = /^\s*\d+\s*$/.test(pidArg) ? Number(pidArg) : (pidArg as unknown as number);
  // A bad output path is reported before the first sample, not after the recording.
  if (!toStdout) checkOutputPath(o.output!);
  const sink = new Sink(toStdout ? undefined : path.resolve(o.output!));
  const rec = record(pid, ropts);
  // The snapshots arrive filtered already; the builder's state names it in the files.
  const builder = new ProfileBuilder(o.state);
  const bar =
    o.progress !== false && !o.quiet && process.stderr.isTTY === true ? progressBar(rec.pid, o.duration) : undefined;

  // Ctrl-C: finish the capture in progress, write the file. A second one: leave now.
  let interrupted = false;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) {
      bar?.stop();
      sink.abandon();
      process.stderr.write(`stackshot: ${sig} again, exiting without writing\n`);
      process.exit(130);
    }
    interrupted = true;
    rec.stop();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, onSignal);
  const threadsSeen = new Set<number>();
  try {
    for await (const shot of rec) {
      if (format === 'json') sink.write(toJsonLine(shot));
      else builder.add(shot);
      for (const t of shot.threads) if (t.frames.length > 0) threadsSeen.add(t.tid);
      bar?.update(rec.stats);
    }
    bar?.update(rec.stats);
    bar?.stop();
    if (format !== 'json') {
      const rendered = renderProfile(format, builder, {
        intervalMs: 1000 / o.hz,
        ...(o.threadRoot !== undefined ? { threadRoot: o.threadRoot } : {}),
      });
      if (toStdout && typeof rendered === 'string') out(rendered);
      else sink.write(rendered);
    }
    sink.commit();
  } catch (err) {
    bar?.stop();
    sink.abandon();
    throw err;
  } finally {
    for (const s of signals) process.removeListener(s, onSignal);
  }

  const s = rec.stats;
  if (!o.quiet)
    process.stderr.write(
      summaryLine(s, threadsSeen.size, interrupted, toStdout ? 'stdout' : o.output!, format, o.state),
    );
  return s;
}

/** Add `record` to the program (as a subcommand, so it inherits the program's settings). */
export function registerRecordCommand(program: Command, out: (s: string) => void): Command {
  const cmd = addCaptureOptions(
    program
      .command('record')
      .description(
        'sample the stacks of a running process at a rate and write a profile (folded, speedscope, pprof, JSON lines, SVG flame graph)',
      )
      .argument('<pid>', 'process id to record')
      .option('--hz <rate>', 'samples per second', parseHz, 99)
      .addOption(
        new Option(
          '--duration <time>',
          "how long to record: 10s, 500ms, 2m, or 'inf' (until Ctrl-C or the target exits)",
        )
          .argParser(parseDuration)
          .default(10_000, '10s'),
      )
      .option(
        '-o, --output <file>',
        'write the profile to this file (default: stdout); the format follows the extension',
      )
      .addOption(
        new Option(
          '--format <format>',
          'folded | speedscope | pprof | json (one snapshot per line) | svg (interactive flame graph)',
        ).choices([...RECORD_FORMATS]),
      )
      .addOption(
        new Option(
          '--state <state>',
          'keep samples of threads that are running (on-CPU, state R), blocked (off-CPU), or all',
        )
          .choices([...STATE_FILTERS])
          .default('running'),
      ),
  )
    .option('--no-symbolize', 'do not name frames (frames become [unknown])')
    .option(
      '--lines',
      'inlined calls as frames of their own, and source lines in pprof output, where modules have debug info',
    )
    .option('--thread-root', 'start each stack with its thread name (folded; flame graphs do by default)')
    .option('--no-thread-root', 'flame graphs: do not group stacks by thread name')
    .option('--no-progress', 'no progress bar (there is none when stderr is not a terminal)')
    .option('-q, --quiet', 'no progress bar and no summary line')
    .addHelpText(
      'after',
      `
Formats by extension: .folded .collapsed .txt → folded; .speedscope.json → speedscope;
.pb.gz .pprof → pprof; .json .jsonl .ndjson → json; .svg → svg.

Examples:
  stackshot record 1234 -o profile.svg                 10 s at 99 Hz, a flame graph
  stackshot record 1234 --duration 30s -o cpu.pb.gz     pprof: go tool pprof -top cpu.pb.gz
  stackshot record 1234 --state all -o wall.folded      blocked threads too (default: on-CPU)
  stackshot record 1234 --duration inf -o app.speedscope.json   until Ctrl-C`,
    )
    .action(async function (this: Command, pid: string, o: RecordCliOptions) {
      try {
        await runRecord(pid, o, out);
      } catch (err) {
        // A bad combination found after parsing: report it as commander reports usage errors.
        if (err instanceof InvalidArgumentError) this.error(err.message, { exitCode: 2, code: 'stackshot.usage' });
        throw err;
      }
    });
  return cmd;
}
