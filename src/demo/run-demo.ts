// Starts the demo workload (workload.js) for `stackshot demo` and makes sure it never outlives
// us.
//
// The workload runs as a GRANDCHILD, started by the launcher the tests use
// (src/launch/grandchild.ts): libuv reaps its direct children with waitpid(), which would steal
// the ptrace stops of a direct child from the native capture.
//
// Cleanup, in layers: stop() kills it and removes its perf map; SIGINT/SIGTERM/SIGHUP and
// process exit kill it synchronously; and if we die without running any JS (SIGKILL, crash),
// the launcher's lifeline kills it when our pipe to the intermediate shell closes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startTarget, type Target } from '../launch/grandchild';

/**
 * Under its perf flags (--perf-basic-prof, --perf-prof) Node 20's V8 also writes an
 * isolate-<addr>-<pid>-v8.log file per isolate into the current directory: these send that log
 * to an unlinked temporary file instead. Whoever starts node with those flags adds them.
 */
export const V8_LOG_ASIDE = ['--no-logfile-per-isolate', '--logfile=+'] as const;

/**
 * Node flags for the workload: the first two make V8 write /tmp/perf-<pid>.map with JS function
 * names; V8_LOG_ASIDE keeps the current directory clean of V8's logs.
 */
export const DEMO_NODE_FLAGS = ['--perf-basic-prof', '--interpreted-frames-native-stack', ...V8_LOG_ASIDE] as const;

/**
 * Where workload.js is: next to this file when run from src/ (tests) or when the build copies
 * it into dist/demo/, else in the package's src/demo/ (dist/demo/ → ../../src/demo/); from the
 * CLI's bundle (dist/cli-bundle.js), __dirname is dist/.
 */
export function demoWorkloadPath(): string {
  const candidates = [
    path.join(__dirname, 'workload.js'),
    path.join(__dirname, '..', '..', 'src', 'demo', 'workload.js'),
    path.join(__dirname, 'demo', 'workload.js'),
  ];
  for (const c of candidates) if (fs.existsSync(c)) return c;
  throw new Error(`demo workload not found (looked in ${candidates.join(', ')})`);
}

export interface DemoProcess {
  /** Pid of the workload (a grandchild: its parent is the intermediate shell). */
  pid: number;
  /** Pid of the intermediate shell. */
  shellPid: number;
  /** The perf map the workload writes (removed by stop()). */
  perfMapPath: string;
  /** Kill the workload, wait until it is gone, remove its perf map. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartDemoOptions {
  /** How long to wait for the workload's "ready" line (default 20 s). */
  readyTimeoutMs?: number;
  /** The node binary (default: the one running us). */
  nodePath?: string;
  /** The workload script (default: demoWorkloadPath()). */
  workloadPath?: string;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

const perfMapOf = (pid: number): string => path.join(os.tmpdir(), `perf-${pid}.map`);

/**
 * SIGKILL takes effect when the target next leaves the kernel: a workload inside the open()
 * that creates its perf map finishes that call first. Wait (briefly, synchronously) until it
 * is gone or a zombie, so the map is removed after the last moment it could be created.
 */
function waitDead(pid: number, ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    let state: string;
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      return; // gone
    }
    if (state === 'Z' || state === 'X') return;
  }
}

/** Synchronous (usable from signal and exit handlers): kill the workload, remove its perf map. */
function killNow(target: Target | undefined): void {
  if (target === undefined || target.pid <= 0) return; // not started: the launcher's lifeline
  const running = target.running;
  target.killNow();
  if (running) waitDead(target.pid, 500);
  fs.rmSync(perfMapOf(target.pid), { force: true });
}

/** Kill the workload on SIGINT/SIGTERM/SIGHUP and exit, then die of the same signal. */
function installHandlers(current: () => Target | undefined): () => void {
  const onExit = (): void => killNow(current());
  const onSignal = (signal: NodeJS.Signals): void => {
    killNow(current());
    remove();
    process.kill(process.pid, signal); // the default action now: die of the same signal
  };
  const remove = (): void => {
    process.removeListener('exit', onExit);
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  };
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
  return remove;
}

/** Start the demo workload and resolve once it printed "ready". */
export async function startDemo(options: StartDemoOptions = {}): Promise<DemoProcess> {
  const node = options.nodePath ?? process.execPath;
  const workload = options.workloadPath ?? demoWorkloadPath();
  let target: Target | undefined;
  const removeHandlers = installHandlers(() => target);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (target !== undefined) {
      await target.stop();
      if (target.pid > 0) fs.rmSync(perfMapOf(target.pid), { force: true });
    }
    removeHandlers();
  };
  try {
    await startTarget(node, [...DEMO_NODE_FLAGS, workload], {
      timeoutMs: options.readyTimeoutMs ?? 20_000,
      onSpawn: (t) => (target = t),
    });
  } catch (e) {
    await stop();
    throw new Error(`demo workload did not start: ${(e as Error).message}`, { cause: e });
  }
  const t = target!;
  return { pid: t.pid, shellPid: t.intermediatePid, perfMapPath: perfMapOf(t.pid), stop };
}

/** Run fn with a started demo workload; the workload is stopped whatever fn does. */
export async function withDemo<T>(fn: (demo: DemoProcess) => Promise<T>, options?: StartDemoOptions): Promise<T> {
  const demo = await startDemo(options);
  try {
    return await fn(demo);
  } finally {
    await demo.stop();
  }
}
