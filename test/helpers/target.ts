// The tests' targets: C fixtures, a real node, a real python3, all started as grandchildren by
// src/launch/grandchild.ts (the launcher `stackshot demo` uses too).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { startTarget, stopAllTargets as stopAll, type StartOptions, type Target } from '../../src/launch/grandchild';
import { PerfMapCache } from '../../src/symbolize/perf-map';
import { V8_LOG_ASIDE } from '../../src/demo/run-demo';
import { compileFixture, type FrameVariant } from './fixtures';

export {
  INTERMEDIATE_SCRIPT,
  liveTargetCount,
  startTarget,
  type StartOptions,
  type Target,
} from '../../src/launch/grandchild';

/** Nodes started with a perf flag: V8 writes /tmp/perf-<pid>.map, and node never removes it. */
const perfMapWriters = new Set<number>();

/**
 * Stops every target this process started, and removes the perf maps of the nodes among them:
 * a map left at a pid is a later process's stale map (refused as such, and an EEXIST for a test
 * that puts one there), and this machine's /tmp held hundreds from earlier runs.
 */
export async function stopAllTargets(): Promise<void> {
  await stopAll();
  for (const pid of perfMapWriters) fs.rmSync(PerfMapCache.pathFor(pid), { force: true });
  perfMapWriters.clear();
}

/** Signal number of SIGRTMIN with glibc on Linux (`kill -l SIGRTMIN`); the kernel's 32 and
 *  33 are reserved by glibc. The threads fixture prints `sigrtmin=<n>` to confirm. */
export const SIGRTMIN = 34;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Compile (cached) and start a C fixture. `threads` and `idle` get `mainBlocked: true`. */
export function startFixture(
  name: string,
  variant: FrameVariant,
  args: string[] = [],
  opts: StartOptions = {},
): Promise<Target> {
  const mainBlocked = opts.mainBlocked ?? (name === 'threads' || name === 'idle');
  return startTarget(compileFixture(name, variant), args, { ...opts, mainBlocked });
}

/** Environment for child node processes: without vitest's / the runner's NODE_OPTIONS. */
function nodeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  return env;
}

/**
 * Start a real `node` (this process's binary) with `nodeArgs` (node's flags), then `args` (a
 * script, or -e and its source), as a grandchild, without the runner's NODE_OPTIONS. A node
 * started with a perf flag has its perf map removed by stopAllTargets.
 */
export async function startNodeWith(nodeArgs: string[], args: string[], opts: StartOptions = {}): Promise<Target> {
  const t = await startTarget(process.execPath, [...withV8LogAside(nodeArgs), ...args], { env: nodeEnv(), ...opts });
  if (perfFlagged(nodeArgs)) perfMapWriters.add(t.pid);
  return t;
}

/**
 * Start a real `node` running `script` (JS source, passed with -e); ready when it prints a line
 * `ready`. `nodeArgs` go before `-e`, e.g. ['--perf-basic-prof', '--interpreted-frames-native-stack'].
 */
export function startNode(script: string, nodeArgs: string[] = [], opts: StartOptions = {}): Promise<Target> {
  return startNodeWith(nodeArgs, ['-e', script], opts);
}

const perfFlagged = (nodeArgs: readonly string[]): boolean => nodeArgs.some((a) => a.startsWith('--perf-'));

/** node flags with V8_LOG_ASIDE added where a perf flag would make V8 write logs into the cwd. */
export function withV8LogAside(nodeArgs: readonly string[]): string[] {
  return perfFlagged(nodeArgs) ? [...nodeArgs, ...V8_LOG_ASIDE] : [...nodeArgs];
}

let pythonBinary: string | undefined;

/** The real python3 executable (resolves pyenv shims, which would add a process layer). */
export function python3Path(): string {
  if (pythonBinary === undefined) {
    const exe = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).trim();
    pythonBinary = fs.realpathSync(exe);
  }
  return pythonBinary;
}

/** Start a real python3 running `code` (-u: unbuffered stdout) as a grandchild; ready when
 *  it prints a line `ready`. */
export function startPython(code: string, opts: StartOptions = {}): Promise<Target> {
  return startTarget(python3Path(), ['-u', '-c', code], opts);
}

/** Ask the threads fixture for its SIGRTMIN count: send SIGUSR1, wait for `rt=<n>`. */
export async function queryRtCount(t: Target, timeoutMs = 5000): Promise<number> {
  process.kill(t.pid, 'SIGUSR1');
  const line = await t.waitForLine(/^rt=\d+$/, timeoutMs);
  return Number(line.slice(3));
}

/**
 * Poll the threads fixture's SIGRTMIN count until it reaches `expected` (signals sent to a
 * process are delivered asynchronously, so the first answer may be short). Returns the last
 * count — equal to `expected` unless the deadline passed or more arrived.
 */
export async function waitForRtCount(t: Target, expected: number, timeoutMs = 5000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const n = await queryRtCount(t, Math.max(100, deadline - Date.now()));
    if (n >= expected || Date.now() >= deadline) return n;
    await sleep(10);
  }
}
