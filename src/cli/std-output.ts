// The CLI's standard output and error. process.stdout and process.stderr are streams whose first
// use loads node:net (a pipe, a terminal) or node:stream (a file): 1-3 ms of a cold CLI, spent
// before the first byte. So the CLI writes its output with write(2) on fd 1, and opens a stream
// only where something asks for one (record's progress bar, a non-blocking fd 1).
import * as fs from 'node:fs';

import { binding } from '../addon';
import { EXIT_FAILURE, EXIT_OK } from './exit-codes';

type StdName = 'stdout' | 'stderr';
const opened = new Set<StdName>();
let stdoutStream = false;

/**
 * Notes which of process.stdout and process.stderr get opened from now on, and gives each, when
 * it is, the CLI's error rule: `stackshot 1234 | head` (a closed pipe) is no error, and nothing
 * more can be said on a stream that failed, so any error on either ends the run quietly.
 */
export function watchStdStreams(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    const d = Object.getOwnPropertyDescriptor(process, name);
    if (d?.get === undefined) continue;
    const open = d.get;
    Object.defineProperty(process, name, {
      configurable: true,
      enumerable: d.enumerable,
      get(): NodeJS.WriteStream {
        const stream = open.call(process) as NodeJS.WriteStream;
        if (!opened.has(name)) {
          opened.add(name);
          stream.on('error', (e: NodeJS.ErrnoException) =>
            process.exit(name === 'stdout' && e.code === 'EPIPE' ? EXIT_OK : EXIT_FAILURE),
          );
        }
        return stream;
      },
    });
  }
}

/** The standard streams opened so far (those watchStdStreams saw opened). */
export function openedStdStreams(): NodeJS.WriteStream[] {
  return [...opened].map((name) => process[name]);
}

/** Writes text to standard output: write(2) on fd 1, or process.stdout once fd 1 said EAGAIN. */
export function writeOut(text: string): void {
  // Once the stream is open, everything goes through it: written around it, output reorders.
  if (stdoutStream || opened.has('stdout')) {
    process.stdout.write(text);
    return;
  }
  const bytes = Buffer.from(text);
  for (let done = 0; done < bytes.length;) {
    try {
      done += fs.writeSync(1, bytes, done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN') process.exit(code === 'EPIPE' ? EXIT_OK : EXIT_FAILURE);
      // A non-blocking fd 1 (shared with a process that made it so): the stream waits for it.
      stdoutStream = true;
      process.stdout.write(bytes.subarray(done));
      return;
    }
  }
}

/** Whether standard output is a terminal, without opening process.stdout for it. */
export const stdoutIsTerminal = (): boolean => binding.isatty(1);
