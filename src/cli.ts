#!/usr/bin/env node
// The `stackshot` command.
//
//   stackshot <pid> [--json] [--schedule rolling|consistent] [--threads 1,2] [--max-frames n]
//                   [--stack-bytes 512k] [--no-symbolize]
//   stackshot demo  [same options]
//   stackshot unwind <file>  (a capture saved with --save)
//
// Exit codes: 0 success, 1 the snapshot failed (message + hint on stderr), 2 usage error.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as Tty from 'node:tty';
import { Command, CommanderError } from 'commander';
import { snapshot, snapshotSync } from './snapshot';
import { StackshotError } from './errors';
import { formatSnapshotText } from './output/text';
import type * as CaptureFile from './capture-file';
import type * as Demo from './demo/run-demo';
import type * as Explain from './cli/explain';
import { isPlainSnapshot, registerSubcommands } from './cli/subcommands';
import { setPersistentCacheEnabled } from './cache/cache-dir';
import { addCaptureOptions, toSnapshotOptions, type SnapshotCliOptions } from './cli/options';
import type { Snapshot } from './types';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, REPORTED_FAILURE } from './cli/exit-codes';
import { openedStdStreams, stdoutIsTerminal, watchStdStreams, writeOut } from './cli/std-output';

export { EXIT_OK, EXIT_FAILURE, EXIT_USAGE };

// What only one command uses is required when that command runs: every start pays for what
// is loaded at the top (see cli/subcommands.ts).
/* eslint-disable @typescript-eslint/no-require-imports */
const captureFile = (): typeof CaptureFile => require('./capture-file') as typeof CaptureFile;
const demo = (): typeof Demo => require('./demo/run-demo') as typeof Demo;
const explainCommand = (): typeof Explain => require('./cli/explain') as typeof Explain;
/* eslint-enable @typescript-eslint/no-require-imports */

function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}

function addSnapshotOptions(cmd: Command): Command {
  return addCaptureOptions(cmd.option('--json', 'print the snapshot as JSON (the Snapshot type) instead of text'))
    .option('--no-symbolize', 'print raw addresses, do not name frames')
    .option(
      '--lines',
      'source file and line of each frame, and inlined calls as extra frames, where the module has debug info (.debug_line, .debug_info)',
    )
    .option(
      '--no-color',
      'no ANSI colors in the text output (default: on a terminal, unless NO_COLOR; FORCE_COLOR forces them)',
    )
    .option(
      '--no-cache',
      'do not read or write the module cache (~/.cache/stackshot, or $STACKSHOT_CACHE_DIR; STACKSHOT_CACHE=off does the same)',
    );
}

/**
 * Node's own rule (util.styleText's since 20.18; 20.12 colours unconditionally, so it is asked
 * here): FORCE_COLOR decides when set, else a terminal whose environment (NO_COLOR,
 * NODE_DISABLE_COLORS, TERM=dumb) allows colours.
 */
function useColor(o: SnapshotCliOptions): boolean {
  if (o.color === false) return false;
  if (process.env.FORCE_COLOR === undefined && !stdoutIsTerminal()) return false;
  // node:tty loaded here, not at start-up: a run whose output is JSON or a file never needs it.
  // hasColors reads the environment only (no stream is opened for it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { WriteStream } = require('node:tty') as typeof Tty;
  return WriteStream.prototype.hasColors.call(WriteStream.prototype, 16); // 16: what styleText asks
}

function render(snap: Snapshot, o: SnapshotCliOptions): string {
  if (o.json) return JSON.stringify(snap, null, 2) + '\n';
  return formatSnapshotText(snap, { color: useColor(o) });
}

/** The API's bad-argument error (Node's ERR_INVALID_ARG_VALUE): a usage error here. */
function isInvalidOption(err: unknown): err is Error {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'ERR_INVALID_ARG_VALUE';
}

const FLAG_OF: Record<string, string> = {
  threads: '--threads',
  maxFrames: '--max-frames',
  stackBytes: '--stack-bytes',
  stopTimeoutMs: '--stop-timeout',
  schedule: '--schedule',
};

/** "options.threads: 9 is not a thread of pid 1" → "--threads: 9 is not a thread of pid 1". */
function cliOptionNames(message: string): string {
  return message.replace(/\boptions\.(\w+)/g, (m, name: string) => FLAG_OF[name] ?? m);
}

/** Print an error the stackshot way: "stackshot: <message>" and "hint: <hint>" on stderr. */
export function reportError(err: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (err instanceof StackshotError) {
    write(`stackshot: ${err.message} [${err.code}]\n`);
    if (err.hint) write(`hint: ${err.hint}\n`);
    return EXIT_FAILURE;
  }
  if (isInvalidOption(err)) {
    write(`stackshot: ${cliOptionNames(err.message)}\n`);
    write('hint: see `stackshot --help`\n');
    return EXIT_USAGE;
  }
  const message = err instanceof Error ? err.message : String(err);
  write(`stackshot: ${message}\n`);
  if (process.env.STACKSHOT_DEBUG && err instanceof Error && err.stack) write(`${err.stack}\n`);
  else write('hint: this was unexpected; run again with STACKSHOT_DEBUG=1 for details and report it\n');
  return EXIT_FAILURE;
}

const EXAMPLES = `
Examples:
  stackshot 1234                         all threads of pid 1234, as text
  stackshot 1234 --json > shot.json      the same as JSON
  stackshot 1234 --schedule consistent   stop all threads together (consistent cut)
  stackshot demo                         try it on a bundled Node program
  stackshot 1234 --save shot.json        snapshot, and keep the capture to unwind again later
  stackshot unwind shot.json             unwind a saved capture (the process may be gone)
  stackshot 1234 --save shot.json --embed-modules
                                         a capture that unwinds on another machine too
  stackshot 1234 --explain               which threads a frame-pointer-only profiler would cut short, and why
  stackshot audit 1234                   which modules of pid 1234 have frame pointers, CFI, symbols
  stackshot doctor 1234                  can pid 1234 be snapshotted? (Yama, CAP_SYS_PTRACE, seccomp, uid, perf map)
  stackshot record 1234 -o profile.svg   sample for 10 s at 99 Hz, write a flame graph
  stackshot bench 1234                   what unwinding pid 1234 costs: fp vs hybrid, pauses, naming

JavaScript frames of node and Python frames of CPython 3.11-3.13 are named from the runtime's own
memory, without flags (see: stackshot doctor <pid>).`;

/** The root command: its settings, the pid argument, the examples. */
function rootCommand(): Command {
  return new Command('stackshot')
    .description('Print the call stack of every thread of a running Linux process (native and JIT frames, symbolized).')
    .version(packageVersion(), '-v, --version')
    .helpCommand('help [command]', 'help for a command')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      outputError: (str, write) => write(`stackshot: ${str.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(true)
    .argument('<pid>', 'process id to inspect (a thread id selects its process)')
    .addHelpText('after', EXAMPLES)
    .hook('preAction', (_root, command) => {
      if (command.opts().cache === false) setPersistentCacheEnabled(false);
    });
}

/**
 * The command line. `argv`, when given, is the one about to be parsed: a plain `stackshot <pid>`
 * then registers no subcommand module (see isPlainSnapshot); without it, every command is there.
 */
export function buildProgram(out: (s: string) => void, argv?: readonly string[]): Command {
  const program = rootCommand();
  addSnapshotOptions(program)
    .option(
      '--save <file>',
      'also save the capture (registers, stacks, maps) to unwind later with `stackshot unwind <file>`',
    )
    .option(
      '--embed-modules',
      "with --save: embed each module's unwind tables and symbols, so the capture unwinds where its files are gone or changed (another machine, after an upgrade)",
    )
    .option(
      '--explain',
      "where a frame-pointer-only profiler (perf --call-graph fp) would lose each thread's stack, and whether CFI recovered it",
    )
    .action(async (pid: string, o: SnapshotCliOptions & { explain?: boolean; embedModules?: boolean }) => {
      if (o.embedModules === true && o.save === undefined)
        program.error("option '--embed-modules' needs '--save <file>'");
      if (o.explain) {
        await explainCommand().runExplain(pid, o, out);
        return;
      }
      const opts = toSnapshotOptions(o);
      // The synchronous capture: a one-shot command has nothing to do meanwhile, and the
      // asynchronous one starts libuv's thread pool for it (2-4 ms of a cold CLI).
      const snap =
        o.save !== undefined
          ? await captureFile().captureToFile(pid as unknown as number, o.save, opts, {
              embedModules: o.embedModules === true,
            })
          : snapshotSync(pid as unknown as number, opts);
      out(render(snap, o));
    });

  addSnapshotOptions(
    program
      .command('unwind')
      .argument('<file>', 'a capture saved with --save')
      .description(
        'unwind and name a capture saved with --save (the process may be gone); refused when a module file changed since the capture and the capture does not embed it',
      ),
  )
    .option(
      '--allow-changed-modules',
      'unwind even when module files changed since the capture: their frames stay unnamed and are walked by frame pointers',
    )
    .action((file: string, o: SnapshotCliOptions & { allowChangedModules?: boolean }) => {
      const unwind = { allowChangedModules: o.allowChangedModules === true };
      out(render(captureFile().snapshotFromFile(file, toSnapshotOptions(o), unwind), o));
    });

  addSnapshotOptions(
    program
      .command('demo')
      .description(
        'start a small Node program (a worker spinning in JS, a worker in Atomics.wait, an idle main thread) and print its snapshot',
      ),
  ).action(async (o: SnapshotCliOptions) => {
    await demo().withDemo(async (d) => {
      const snap = await snapshot(d.pid, toSnapshotOptions(o));
      out(render(snap, o));
    });
  });

  if (argv === undefined || !isPlainSnapshot(argv)) registerSubcommands(program, out);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  // -V is what commander and many tools print the version with; -v is what users try first.
  if (argv[2] === '-V') argv = [...argv.slice(0, 2), '--version', ...argv.slice(3)];
  const program = buildProgram(writeOut, argv);
  try {
    await program.parseAsync(argv);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return EXIT_OK; // --help, --version
      if (err.code === REPORTED_FAILURE) return err.exitCode; // the command printed why
      process.stderr.write('hint: see `stackshot --help`\n');
      return EXIT_USAGE;
    }
    return reportError(err);
  }
}

/** Resolves once everything written to `stream` so far has reached the OS (or it failed). */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || stream.writableEnded) return Promise.resolve();
  // Writes complete in order: the empty write's callback runs after every earlier one's.
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Exits with `code` once the standard streams opened are flushed. Pipe writes are asynchronous
 * on Linux once the pipe is full (64 KiB): process.exit() right after writing cut the output.
 */
export async function exitWhenFlushed(code: number): Promise<never> {
  await Promise.all(openedStdStreams().map(flushed));
  process.exit(code);
}

/** Runs the command line of this process and exits: what the `stackshot` command does. */
export function runCommand(): void {
  watchStdStreams();
  void main().then(exitWhenFlushed);
}

if (require.main === module) runCommand();
