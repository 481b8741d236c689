// Starts the demo workload (workload.js) for `stackshot demo` and makes sure it never outlives
// us.
//
// The workload runs as a GRANDCHILD: `sh -c 'node workload.js & echo $!; wait'`. libuv reaps
// its direct children with waitpid() from its SIGCHLD handler, and ptrace stops are reported to
// that waitpid too: a direct child's stops could be stolen from the native capture. The shell
// in between is the one that waits for the workload.
//
// Cleanup, in layers: stop() kills it and removes its perf map; SIGINT/SIGTERM/SIGHUP and
// process exit kill it synchronously; and if we die without running any JS (SIGKILL, crash),
// the workload sees its stdin pipe close and exits by itself.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Node flags for the workload: the first two make V8 write /tmp/perf-<pid>.map with JS function
 * names. With them, Node 20's V8 also writes an isolate-<addr>-<pid>-v8.log file per isolate into
 * the current directory; the last two send that log to an unlinked temporary file instead.
 */
export const DEMO_NODE_FLAGS = [
  '--perf-basic-prof',
  '--interpreted-frames-native-stack',
  '--no-logfile-per-isolate',
  '--logfile=+',
] as const;

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

// `exec 3<&0 … <&3`: a non-interactive shell gives background jobs /dev/null as stdin; this
// hands the workload our pipe instead, so it sees EOF when we are gone.
const SHELL_SCRIPT = 'exec 3<&0; "$0" "$@" <&3 3<&- & echo "$!"; exec 3<&-; wait';

/** Start the demo workload and resolve once it printed "ready". */
export function startDemo(options: StartDemoOptions = {}): Promise<DemoProcess> {
  const node = options.nodePath ?? process.execPath;
  const workload = options.workloadPath ?? demoWorkloadPath();
  const readyTimeoutMs = options.readyTimeoutMs ?? 20_000;

  const shell: ChildProcess = spawn('/bin/sh', ['-c', SHELL_SCRIPT, node, ...DEMO_NODE_FLAGS, workload], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const shellPid = shell.pid ?? 0;
  let shellExited = shell.exitCode !== null || shell.signalCode !== null;
  const shellExit = new Promise<void>((resolve) => {
    shell.once('exit', () => {
      shellExited = true;
      resolve();
    });
    shell.once('error', () => {
      shellExited = true;
      resolve();
    });
  });

  let workloadPid = 0;
  let stopped = false;

  const perfMap = (): string => path.join(os.tmpdir(), `perf-${workloadPid}.map`);

  /**
   * SIGKILL takes effect when the target next leaves the kernel: a workload inside the open()
   * that creates its perf map finishes that call first. Wait (briefly, synchronously) until it
   * is gone or a zombie, so the map is removed after the last moment it could be created.
   */
  const waitDead = (pid: number, ms: number): void => {
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
  };

  /** Synchronous: usable from signal and exit handlers. */
  const killNow = (): void => {
    // While the shell is alive, it has not reaped the workload, so the pid cannot have been
    // reused by another process: killing it is safe.
    if (workloadPid > 0 && !shellExited) {
      try {
        process.kill(workloadPid, 'SIGKILL');
        waitDead(workloadPid, 500);
      } catch {
        // already gone
      }
    }
    if (!shellExited && shellPid > 0) {
      try {
        shell.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
    if (workloadPid > 0) fs.rmSync(perfMap(), { force: true });
  };

  const onExit = (): void => killNow();
  const onSignal = (signal: NodeJS.Signals): void => {
    killNow();
    removeHandlers();
    process.kill(process.pid, signal); // the default action now: die of the same signal
  };
  const removeHandlers = (): void => {
    process.removeListener('exit', onExit);
    for (const s of SIGNALS) process.removeListener(s, onSignal);
  };
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    killNow();
    shell.stdin?.destroy();
    const timer = setTimeout(() => shell.kill('SIGKILL'), 5_000);
    await shellExit;
    clearTimeout(timer);
    shell.stdout?.destroy();
    shell.stderr?.destroy();
    if (workloadPid > 0) fs.rmSync(perfMap(), { force: true });
    removeHandlers();
  };

  return new Promise<DemoProcess>((resolve, reject) => {
    let out = '';
    let err = '';
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const detail = err.trim() === '' ? '' : `: ${err.trim().split('\n').slice(-3).join(' | ')}`;
      void stop().then(() => reject(new Error(`demo workload ${why}${detail}`)));
    };
    const timer = setTimeout(() => fail(`did not print "ready" within ${readyTimeoutMs} ms`), readyTimeoutMs);

    shell.stderr?.setEncoding('utf8');
    shell.stderr?.on('data', (chunk: string) => {
      err += chunk;
    });
    shell.stdout?.setEncoding('utf8');
    shell.stdout?.on('data', (chunk: string) => {
      out += chunk;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      for (const line of lines) {
        if (workloadPid === 0 && /^\d+$/.test(line.trim())) {
          workloadPid = Number(line.trim());
        } else if (line.trim() === 'ready' && workloadPid > 0 && !settled) {
          settled = true;
          clearTimeout(timer);
          resolve({ pid: workloadPid, shellPid, perfMapPath: perfMap(), stop });
        }
      }
    });
    shell.once('error', (e) => fail(`could not be started (${e.message})`));
    void shellExit.then(() => fail('exited before it was ready'));
  });
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
