// `stackshot bench <pid>`: what unwinding this process costs (src/benchmark/). The measuring
// code loads only when the command runs.
//
//   stackshot bench 1234                      10 rounds at most, 10 s at most: tables and a verdict
//   stackshot bench 1234 --count 3 --json     the BenchmarkReport as JSON
//   stackshot bench 1234 --compare            also eu-stack, gdb, perf record (fp, dwarf)
//   stackshot bench 1234 -o pauses.svg        and a chart of the pauses per capture path
import * as fs from 'node:fs';
import { InvalidArgumentError, type Command } from 'commander';
import { parsePositiveInt } from './options';

export interface BenchCliOptions {
  count?: number;
  duration?: number;
  json?: boolean;
  compare?: boolean;
  output?: string;
}

/** --duration as record takes it ("10s", "500ms"), finite: a benchmark always ends. */
function parseBenchDuration(value: string): number {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parseDuration } = require('./record-command') as typeof import('./record-command');
  const ms = parseDuration(value);
  if (!Number.isFinite(ms)) throw new InvalidArgumentError('a benchmark needs a finite duration, e.g. 10s.');
  return ms;
}

async function runBench(pid: string, o: BenchCliOptions, out: (s: string) => void): Promise<void> {
  const { benchmark } = await import('../benchmark/benchmark');
  const { describePlan } = await import('../benchmark/plan');
  const { formatBenchmarkText } = await import('../benchmark/format-text');
  const { checkOutputPath, outputFileError } = await import('../output/output-file');
  if (o.output !== undefined) checkOutputPath(o.output);
  const report = await benchmark(pid as unknown as number, {
    count: o.count,
    durationMs: o.duration,
    compare: o.compare === true,
    // Before the first stop, on stderr (stdout may be JSON for a script).
    onPlan: (plan) => process.stderr.write(describePlan(plan)),
  });
  if (o.output !== undefined) {
    const { pauseChartSvg } = await import('../benchmark/pause-svg');
    try {
      fs.writeFileSync(o.output, pauseChartSvg(report));
    } catch (err) {
      throw outputFileError(o.output, err);
    }
  }
  out(o.json ? JSON.stringify(report, null, 2) + '\n' : formatBenchmarkText(report));
}

export function registerBenchCommand(program: Command, out: (s: string) => void): Command {
  return program
    .command('bench')
    .description(
      'measure what unwinding this process costs: frame pointers vs hybrid on the same captures, the pause of each capture path (and the kernel’s own accounting), naming cold and warm; --compare runs eu-stack, gdb and perf too',
    )
    .argument('<pid>', 'process to measure')
    .option('--count <n>', 'rounds at most; each captures once per capture path (default 10)', parsePositiveInt)
    .option('--duration <time>', 'no round starts after this long, e.g. 10s, 500ms (default 10s)', parseBenchDuration)
    .option(
      '--compare',
      'also run eu-stack, gdb and perf record --call-graph fp|dwarf where installed, and name the missing',
    )
    .option('-o, --output <file.svg>', 'also write a chart of the pause per stopped thread, per capture path (SVG)')
    .option('--json', 'print the report as JSON (the BenchmarkReport type)')
    .action((pid: string, o: BenchCliOptions) => runBench(pid, o, out));
}
