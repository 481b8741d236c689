// Starts target processes as GRANDCHILDREN of this process: the tests' targets, the bench's and
// `stackshot demo`'s workload.
//
// Why: libuv's SIGCHLD handler calls waitpid() on every child that node spawned, and
// ptrace stops of a traced child are reported to that same waitpid — libuv would steal
// them from a capture. So node spawns an intermediate `sh`, and sh starts the target in the
// background:
//
//   this process (node) ──spawn──> sh ──fork/exec──> target
//                                   └──> watcher subshell (lifeline)
//
// The intermediate reports on its fd 3 (a separate channel, so target output cannot be
// confused with it): `pid=<target pid>`, `watcher=<pid>`, and `exit=<status>` once the
// target is gone (sh waits for it, so it never lingers as a zombie). The target's stdin is
// /dev/null, fd 3 is closed in it, its stdout/stderr are pipes to this process.
//
// Lifeline: the watcher blocks reading sh's stdin, a pipe whose only writer is this
// process. If this process dies in any way (even SIGKILL), the read sees EOF and the
// watcher SIGKILLs the target. `process.on('exit')` also kills every live target.
//
// Note: a non-interactive sh starts background commands with SIGINT and SIGQUIT ignored;
// the C fixtures reset both to default, and the others are stopped with SIGKILL.

import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';

export interface Target {
  /** pid of the target process (the grandchild). */
  readonly pid: number;
  /** pid of the intermediate `sh` (the target's parent). */
  readonly intermediatePid: number;
  /** Everything the target wrote to stdout so far. */
  readonly stdout: string;
  /** Everything the target (and sh) wrote to stderr so far. */
  readonly stderr: string;
  /** The target's exit status as the intermediate sh saw it (`$?`: 128+N when killed by
   *  signal N), or null if that could not be learned. Never rejects. */
  readonly exited: Promise<number | null>;
  /** True until the target is known to have exited. */
  readonly running: boolean;
  /**
   * Wait for a complete stdout line matching `re`, and return it (without the newline).
   * Lines are consumed: the search starts after the line returned by the previous
   * waitForLine (startTarget already consumed the ready line), and every line up to and
   * including the match is used up. So `process.kill(pid, 'SIGUSR1'); await
   * waitForLine(/^rt=/)` returns the answer to this request, not an older one — as long as
   * every earlier request's answer was also waited for. Rejects after `timeoutMs`
   * (default 10 s) or when the target exits first.
   */
  waitForLine(re: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGKILL the target, then make sure the intermediate and the watcher are gone too.
   *  Idempotent; resolves when none of the three processes exists any more. */
  stop(): Promise<void>;
  /** SIGKILL all three processes at once, synchronously: for exit and signal handlers. */
  killNow(): void;
}

export interface StartOptions {
  /** Readiness line (tested per line). Default /^ready$/m; null: ready once the pid is known
   *  (a target that prints nothing, like `sleep`). */
  ready?: RegExp | null;
  /** How long to wait for pid and readiness. Default 10 s. */
  timeoutMs?: number;
  /** Environment of the target. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  /** Working directory of the target. */
  cwd?: string;
  /**
   * After the ready line, also wait (up to timeoutMs) until the target's main thread is in
   * state S — for targets whose main thread blocks right after printing ready (threads,
   * idle), so that a snapshot taken at once finds it in its wait call, not in `write`.
   */
  mainBlocked?: boolean;
  /** Called at once with the target's handle, before it is ready: a caller's signal handler can
   *  then kill a target that is still starting. */
  onSpawn?: (target: Target) => void;
}

/** The intermediate shell script: $0 is the target binary, "$@" its arguments. */
export const INTERMEDIATE_SCRIPT = [
  'exec 4<&0 </dev/null',
  '"$0" "$@" 3>&- 4<&- &',
  'pid=$!',
  'echo "pid=$pid" >&3',
  '{ read x <&4; kill -9 "$pid"; } 3>&- >/dev/null 2>&1 &',
  'w=$!',
  'echo "watcher=$w" >&3',
  'wait "$pid"',
  'st=$?',
  'kill -9 "$w" 2>/dev/null',
  'wait "$w" 2>/dev/null',
  'echo "exit=$st" >&3',
].join('\n');

const live = new Set<TargetImpl>();
let exitHookInstalled = false;

function killQuietly(pid: number | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const t of live) t.killNow();
  });
}

/** Stop every target started by this process that is still running (for afterEach/afterAll). */
export async function stopAllTargets(): Promise<void> {
  await Promise.all([...live].map((t) => t.stop()));
}

/** Number of targets started by this process and not stopped yet. */
export function liveTargetCount(): number {
  return live.size;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolve with p's value, or with `false` after ms (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number): Promise<T | false> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function tail(s: string, n = 2000): string {
  return s.length > n ? `…${s.slice(-n)}` : s;
}

interface Waiter {
  re: RegExp;
  resolve: (line: string) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

class TargetImpl implements Target {
  pid = -1;
  intermediatePid: number;
  watcherPid: number | undefined;
  private out = '';
  private err = '';
  private lines: string[] = [];
  private partial = '';
  private cursor = 0;
  private waiters: Waiter[] = [];
  private ctlBuf = '';
  private exitStatus: number | null | undefined; // undefined: not exited (as far as we know)
  private resolveExited!: (s: number | null) => void;
  readonly exited: Promise<number | null>;
  private shClosed: Promise<void>;
  private stopping: Promise<void> | undefined;
  private pidKnown!: (pid: number) => void;
  private pidFailed!: (err: Error) => void;
  readonly pidPromise: Promise<number>;

  constructor(
    readonly binary: string,
    readonly args: readonly string[],
    private readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`could not spawn sh for ${binary}`);
    this.intermediatePid = child.pid;
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.pidPromise = new Promise<number>((res, rej) => {
      this.pidKnown = res;
      this.pidFailed = rej;
    });
    this.pidPromise.catch(() => undefined);
    this.shClosed = new Promise((r) => child.once('close', () => r()));
    // Do not keep this process alive because of a forgotten target.
    child.unref();
    const [stdin, stdout, stderr, ctl] = child.stdio as unknown as [
      NodeJS.WritableStream & { unref?: () => void },
      Readable & { unref?: () => void },
      Readable & { unref?: () => void },
      Readable & { unref?: () => void },
    ];
    stdin.on('error', () => undefined);
    stdout.setEncoding('utf8');
    stderr.setEncoding('utf8');
    ctl.setEncoding('utf8');
    stdout.on('data', (d: string) => this.onStdout(d));
    stdout.on('end', () => this.onStdoutEnd());
    stderr.on('data', (d: string) => (this.err += d));
    ctl.on('data', (d: string) => this.onCtl(d));
    ctl.on('error', () => undefined);
    for (const s of [stdin, stdout, stderr, ctl]) s.unref?.();
    child.on('error', (e) => this.pidFailed(e));
    child.once('close', () => {
      this.pidFailed(new Error(`intermediate sh exited before reporting the target pid\nstderr: ${tail(this.err)}`));
      this.markExited(this.exitStatus ?? null);
      this.failWaiters('target exited');
    });
  }

  get stdout(): string {
    return this.out;
  }
  get stderr(): string {
    return this.err;
  }
  get running(): boolean {
    return this.exitStatus === undefined;
  }

  private onCtl(d: string): void {
    this.ctlBuf += d;
    let nl: number;
    while ((nl = this.ctlBuf.indexOf('\n')) >= 0) {
      const line = this.ctlBuf.slice(0, nl);
      this.ctlBuf = this.ctlBuf.slice(nl + 1);
      const m = /^(pid|watcher|exit)=(\d+)$/.exec(line);
      if (!m) continue;
      const v = Number(m[2]);
      if (m[1] === 'pid') {
        this.pid = v;
        this.pidKnown(v);
      } else if (m[1] === 'watcher') {
        this.watcherPid = v;
      } else {
        this.markExited(v);
        // Output written just before exit may still be in the pipe: fail waiters on 'end'.
      }
    }
  }

  private markExited(status: number | null): void {
    if (this.exitStatus === undefined) {
      this.exitStatus = status;
      this.resolveExited(status);
    }
  }

  private onStdout(d: string): void {
    this.out += d;
    const parts = (this.partial + d).split('\n');
    this.partial = parts.pop() ?? '';
    if (parts.length) {
      this.lines.push(...parts);
      this.pump();
    }
  }

  private onStdoutEnd(): void {
    if (this.partial) {
      this.lines.push(this.partial);
      this.partial = '';
      this.pump();
    }
    this.failWaiters('target closed its stdout (exited?)');
  }

  private pump(): void {
    while (this.waiters.length) {
      const w = this.waiters[0];
      let found = -1;
      for (let i = this.cursor; i < this.lines.length; i++) {
        w.re.lastIndex = 0;
        if (w.re.test(this.lines[i])) {
          found = i;
          break;
        }
      }
      if (found < 0) return;
      this.cursor = found + 1;
      this.waiters.shift();
      clearTimeout(w.timer);
      w.resolve(this.lines[found]);
    }
  }

  private failWaiters(why: string): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) {
      clearTimeout(w.timer);
      w.reject(this.describe(`${why} before a line matched ${String(w.re)}`));
    }
  }

  describe(msg: string): Error {
    return new Error(
      `${msg}\ntarget: ${this.binary} ${this.args.join(' ')} (pid ${this.pid})\n` +
        `stdout: ${JSON.stringify(tail(this.out))}\nstderr: ${JSON.stringify(tail(this.err))}`,
    );
  }

  waitForLine(re: RegExp, timeoutMs = 10_000): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(this.describe(`timed out after ${timeoutMs} ms waiting for a line matching ${String(re)}`));
      }, timeoutMs);
      this.waiters.push({ re, resolve, reject, timer });
      this.pump();
      // Already over and nothing matched: fail now rather than at the timeout.
      if (this.waiters.some((w) => w.timer === timer) && this.child.stdout?.readableEnded) {
        this.failWaiters('target closed its stdout (exited?)');
      }
    });
  }

  /** Synchronous last resort (process 'exit', signals): SIGKILL all three processes. */
  killNow(): void {
    // Before sh reported the pid, killing sh could orphan the target: the lifeline kills it
    // once this process is gone (its pipe to sh closes).
    if (this.pid < 0) return;
    if (this.exitStatus === undefined) killQuietly(this.pid);
    killQuietly(this.watcherPid);
    killQuietly(this.intermediatePid);
  }

  stop(): Promise<void> {
    if (!this.stopping) this.stopping = this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    try {
      // The pid is known once startTarget resolved; if stop() races a failed start, give
      // the pid a moment to arrive so the target is not left behind.
      if (this.pid < 0)
        await within(
          this.pidPromise.catch(() => undefined),
          2000,
        );
      // Only signal the pid while sh has not reaped it (no `exit=` yet): never a reused pid.
      if (this.exitStatus === undefined) killQuietly(this.pid);
      // sh sees the target die, reaps it, kills and reaps the watcher, and exits.
      const closed = await within(
        this.shClosed.then(() => true),
        5000,
      );
      if (!closed) {
        killQuietly(this.watcherPid);
        killQuietly(this.intermediatePid);
        await within(this.shClosed, 2000);
      }
      this.child.stdin?.destroy();
      this.child.stdout?.destroy();
      this.child.stderr?.destroy();
      (this.child.stdio[3] as Readable | null)?.destroy();
      // Paranoia: wait until the target's /proc entry is gone (it is, once sh reaped it).
      for (let i = 0; i < 200 && this.pid > 0 && fs.existsSync(`/proc/${this.pid}`) && !closed; i++) await sleep(10);
      this.markExited(this.exitStatus ?? null);
      this.failWaiters('target stopped');
    } finally {
      live.delete(this);
    }
  }
}

/**
 * Start `binary args…` as a grandchild of this process (see the top of this file) and wait
 * until it prints a line matching `opts.ready` (default /^ready$/m). On failure the target
 * is stopped and the error carries its stdout/stderr.
 */
export async function startTarget(binary: string, args: string[] = [], opts: StartOptions = {}): Promise<Target> {
  installExitHook();
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const child = spawn('/bin/sh', ['-c', INTERMEDIATE_SCRIPT, binary, ...args], {
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  const t = new TargetImpl(binary, args, child);
  live.add(t);
  opts.onSpawn?.(t);
  try {
    if ((await within(t.pidPromise, timeoutMs)) === false) {
      throw t.describe(`timed out after ${timeoutMs} ms waiting for the intermediate sh to report the pid`);
    }
    if (opts.ready !== null) await t.waitForLine(opts.ready ?? /^ready$/m, timeoutMs);
    if (opts.mainBlocked) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let state = '?';
        try {
          const stat = fs.readFileSync(`/proc/${t.pid}/task/${t.pid}/stat`, 'utf8');
          state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        } catch {
          /* gone: reported below */
        }
        if (state === 'S') break;
        if (Date.now() > deadline || !t.running) throw t.describe(`main thread never blocked (state ${state})`);
        await sleep(1);
      }
    }
    return t;
  } catch (e) {
    await t.stop();
    throw e;
  }
}
