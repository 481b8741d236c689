// The `stackshot` command, run as a real process: `node dist/cli.js ...` (build with
// `npx tsc -p tsconfig.json`; `npm test` does). Every target is a grandchild of this process
// (sh -c '... & echo $!; wait'), and nothing is left running afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Snapshot } from '../src/types';
import { compileFixture } from './helpers/fixtures';
import { statusField, waitUntil } from './helpers/proc';
import { startTarget, stopAllTargets, type Target } from './helpers/target';
import { have } from './helpers/tools';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const ADDON_BUILT = fs.existsSync(path.join(ROOT, 'build', 'Release', 'stackshot.node'));
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

const HAVE_GCC = have('gcc');
const HAVE_STRACE = have('strace');
const HAVE_SETPRIV = have('setpriv') && process.getuid!() === 0;

// ---------------------------------------------------------------------------------------------
// Running the CLI

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const running = new Set<{ kill(): Promise<void> }>();

function startCli(args: string[], prefix: string[] = []): { child: ChildProcess; done: Promise<Run> } {
  const cmd = [...prefix, process.execPath, CLI, ...args];
  const child = spawn(cmd[0]!, cmd.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
    env: { ...process.env, NO_COLOR: '1' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const handle = {
    kill: async () => {
      running.delete(handle);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await done;
    },
  };
  running.add(handle);
  const done = new Promise<Run>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      running.delete(handle);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { child, done };
}

function cli(args: string[], prefix: string[] = []): Promise<Run> {
  return startCli(args, prefix).done;
}

/** An expected error: exactly "stackshot: <message> [CODE]" and "hint: ..." on stderr, nothing on stdout. */
function expectErrorLines(r: Run, code: string): string {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(new RegExp(`^stackshot: .+ \\[${code}\\]$`));
  expect(lines[1]).toMatch(/^hint: \S/);
  expect(r.stderr).not.toMatch(/^\s+at /m); // never a stack trace
  return lines[0]!;
}

function expectUsageError(r: Run): void {
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(/^stackshot: /);
  expect(r.stderr).toContain('hint: see `stackshot --help`');
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

// ---------------------------------------------------------------------------------------------
// Targets: grandchildren

/** argv as a grandchild (the shared launcher); a `prefix` (setpriv ...) execs argv, so the pid
 *  is argv's, run as the prefix says. Ready at once, or at a line matching `ready`. */
function grandchild(argv: string[], prefix: string[] = [], ready: RegExp | null = null): Promise<Target> {
  const [cmd, ...args] = [...prefix, ...argv];
  return startTarget(cmd!, args, { ready, cwd: os.tmpdir() });
}

function ppidOf(pid: number): number {
  try {
    return Number(statusField(pid, 'PPid'));
  } catch {
    return -1;
  }
}

/** Pids whose command line mentions needle and whose grandparent is ancestor. */
function grandchildrenMatching(ancestor: number, needle: string): number[] {
  const found: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (!fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) continue;
    } catch {
      continue;
    }
    if (ppidOf(ppidOf(Number(d))) === ancestor) found.push(Number(d));
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    const state = /\) (\S)/.exec(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))![1];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

beforeAll(() => {
  // `npm test` builds dist first; build it here when it is missing or older than our sources.
  const mine = [
    'cli.ts',
    'errors.ts',
    'output/text.ts',
    'demo/run-demo.ts',
    'procfs/preflight.ts',
    'procfs/permissions.ts',
  ];
  const stale = mine.some((f) => {
    const js = path.join(ROOT, 'dist', f.replace(/\.ts$/, '.js'));
    return !fs.existsSync(js) || fs.statSync(js).mtimeMs < fs.statSync(path.join(ROOT, 'src', f)).mtimeMs;
  });
  if (stale) spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'ignore' });
  expect(fs.existsSync(CLI)).toBe(true);
});

afterEach(async () => {
  await Promise.all([...running].map((p) => p.kill()));
  await stopAllTargets();
});

describe('stackshot: usage', () => {
  it('--help prints usage, the demo command and examples, exit 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: stackshot \[options\] \[command\] <pid>/);
    for (const s of [
      '--json',
      '--schedule',
      '--threads',
      '--max-frames',
      '--stack-bytes',
      '--no-symbolize',
      'demo',
      'Examples:',
    ]) {
      expect(r.stdout).toContain(s);
    }
    expect(r.stderr).toBe('');
  });

  it('demo --help, --version', async () => {
    const d = await cli(['demo', '--help']);
    expect(d.code).toBe(0);
    expect(d.stdout).toContain('Usage: stackshot demo [options]');
    const v = await cli(['--version']);
    expect(v.code).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(v.stdout.trim()).toBe(pkg.version);
  });

  it.each([
    [[]],
    [['1', '--schedule', 'sometimes']],
    [['1', '--stack-bytes', '12x']],
    [['1', '--stack-bytes', '0']],
    [['1', '--max-frames', '0']],
    [['1', '--max-frames', 'many']],
    [['1', '--threads', 'a,b']],
    [['1', '--frobnicate']],
    [['1', '2']],
  ])('usage error for %j: exit 2', async (args) => {
    expectUsageError(await cli(args));
  });
});

describe('stackshot <pid>: expected errors', () => {
  it('a pid that is not a number: EINVAL, exit 1', async () => {
    const line = expectErrorLines(await cli(['abc']), 'EINVAL');
    expect(line).toBe('stackshot: invalid pid "abc": a pid is a positive integer [EINVAL]');
  });

  it('its own pid: EINVAL', async () => {
    // sh execs node in place: $$ is the CLI's own pid.
    const child = spawn('/bin/sh', ['-c', `exec "${process.execPath}" "${CLI}" "$$"`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const code = await new Promise<number | null>((res) => child.once('close', (c) => res(c)));
    const line = expectErrorLines({ code, signal: null, stdout: '', stderr }, 'EINVAL');
    expect(line).toContain(`pid ${child.pid} is this process`);
  });

  it('a pid that does not exist: ESRCH', async () => {
    const line = expectErrorLines(await cli(['4194305']), 'ESRCH');
    expect(line).toBe('stackshot: no process with pid 4194305 [ESRCH]');
  });

  it('a kernel thread: EINVAL', async () => {
    const line = expectErrorLines(await cli(['2']), 'EINVAL');
    expect(line).toContain('pid 2 (kthreadd) is a kernel thread');
  });

  it('--json errors are still plain text on stderr', async () => {
    const r = await cli(['4194305', '--json']);
    expectErrorLines(r, 'ESRCH');
  });
});

describe.skipIf(!ADDON_BUILT)('stackshot <pid>: snapshots', () => {
  it('prints a text snapshot of a sleeping process', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli([String(t.pid)]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^PID ${t.pid} \\(sleep\\) — 1 thread.*, rolling, `));
    expect(lines[2]).toMatch(new RegExp(`^TID ${t.pid} "sleep" S — `));
    expect(lines[3]).toMatch(/^#0 +0x[0-9a-f]{16} {2}\S/);
  });

  it('--json prints the Snapshot, with the options applied', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli([
      String(t.pid),
      '--json',
      '--schedule',
      'consistent',
      '--max-frames',
      '3',
      '--stack-bytes',
      '64k',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('{\n  "version": 1,\n  "pid": ')).toBe(true); // 2-space indent
    const snap = JSON.parse(r.stdout) as Snapshot;
    expect(snap.pid).toBe(t.pid);
    expect(snap.command).toBe('sleep');
    expect(snap.schedule).toBe('consistent');
    expect(snap.threads).toHaveLength(1);
    expect(snap.threads[0]!.frames.length).toBeLessThanOrEqual(3);
    expect(snap.threads[0]!.stackBytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('--capture picks the path each thread is captured by, and says so in the JSON', async () => {
    const t = await grandchild(['sleep', '60']);
    const blocked = JSON.parse((await cli([String(t.pid), '--json', '--capture', 'blocked'])).stdout) as Snapshot;
    expect(blocked.threads[0]).toMatchObject({ capture: 'blocked', pauseNs: 0 });
    const stopped = JSON.parse((await cli([String(t.pid), '--json', '--capture', 'ptrace'])).stdout) as Snapshot;
    expect(stopped.threads[0]!.capture).toBe('ptrace');
    expect(stopped.threads[0]!.pauseNs).toBeGreaterThan(0);
    expect(stopped.threads[0]!.frames.map((f) => f.pc)).toEqual(blocked.threads[0]!.frames.map((f) => f.pc));
    const bad = await cli([String(t.pid), '--capture', 'teleport']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--capture/);
  });

  it('--no-symbolize leaves frames unnamed; --threads picks threads', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli([String(t.pid), '--json', '--no-symbolize', '--threads', String(t.pid)]);
    expect(r.code).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    expect(snap.threads.map((x) => x.tid)).toEqual([t.pid]);
    for (const f of snap.threads[0]!.frames) expect(f.symbol).toBeNull();
  });

  it('--threads with a tid of another process is a usage error', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli([String(t.pid), '--threads', '4194305']);
    expectUsageError(r);
    expect(r.stderr).toContain('--threads');
  });

  const tracers: Array<[string, boolean, (pid: number) => string[]]> = [
    ['strace', HAVE_STRACE, (pid) => ['strace', '-p', String(pid), '-o', '/dev/null']],
    ['seize-tracer', HAVE_GCC, (pid) => [compileFixture('seize-tracer', 'fp'), String(pid)]],
  ];
  for (const [comm, available, argv] of tracers) {
    it.skipIf(!available)(`a process already traced by ${comm}: EPERM naming the tracer`, async () => {
      const t = await grandchild(['sleep', '60']);
      const cmd = argv(t.pid);
      const tracer = spawn(cmd[0]!, cmd.slice(1), { stdio: 'ignore' });
      const gone = new Promise((r) => tracer.once('exit', r));
      const handle = {
        kill: async () => {
          running.delete(handle);
          if (tracer.exitCode === null && tracer.signalCode === null) tracer.kill('SIGKILL');
          await gone;
        },
      };
      running.add(handle);
      await waitUntil(() => statusField(t.pid, 'TracerPid') === String(tracer.pid));
      const line = expectErrorLines(await cli([String(t.pid)]), 'EPERM');
      expect(line).toBe(
        `stackshot: cannot attach to pid ${t.pid}: already traced by pid ${tracer.pid} (${comm}) [EPERM]`,
      );
      await handle.kill();
    });
  }

  it.skipIf(!HAVE_SETPRIV)('as another user: other-uid', async () => {
    const t = await grandchild(['sleep', '60']); // runs as root
    const r = await cli([String(t.pid)], NOBODY);
    const line = expectErrorLines(r, 'EPERM');
    expect(line).toContain(`cannot attach to pid ${t.pid}: it runs as uid 0 (root), we run as uid 65534`);
    expect(r.stderr).toContain('hint: run stackshot as root (sudo)');
  });

  it.skipIf(!HAVE_SETPRIV)('as root without CAP_SYS_PTRACE: no-capability', async () => {
    const t = await grandchild(['sleep', '60'], NOBODY);
    const r = await cli([String(t.pid)], ['setpriv', '--bounding-set=-sys_ptrace', '--inh-caps=-sys_ptrace']);
    const line = expectErrorLines(r, 'EPERM');
    expect(line).toContain('we are root without CAP_SYS_PTRACE');
    expect(r.stderr).toContain('--cap-add SYS_PTRACE');
  });

  it.skipIf(!HAVE_SETPRIV || !HAVE_GCC)('a non-dumpable process of the same user: not-dumpable', async () => {
    const t = await grandchild([compileFixture('nodump', 'fp')], NOBODY, /^ready$/);
    const r = await cli([String(t.pid)], NOBODY);
    const line = expectErrorLines(r, 'EPERM');
    expect(line).toContain('it is not dumpable');
  });

  it.skipIf(
    !HAVE_SETPRIV ||
      !(
        Number(
          fs.existsSync('/proc/sys/kernel/yama/ptrace_scope') &&
            fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8'),
        ) > 0
      ),
  )('Yama ptrace_scope >= 1, a non-descendant of the same user: yama (skipped where ptrace_scope is 0)', async () => {
    const t = await grandchild(['sleep', '60'], NOBODY);
    const line = expectErrorLines(await cli([String(t.pid)], NOBODY), 'EPERM');
    expect(line).toContain('kernel.yama.ptrace_scope is');
  });
});

describe.skipIf(!ADDON_BUILT)('stackshot demo', () => {
  function demoPid(out: string): number {
    const m = /^PID (\d+) \(node\)/.exec(out);
    expect(m).not.toBeNull();
    return Number(m![1]);
  }

  it('prints every demo thread with its name, then leaves nothing behind', async () => {
    const r = await cli(['demo']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const pid = demoPid(r.stdout);
    expect(r.stdout).toContain(`TID ${pid} "node" `); // the main thread
    const primes = r.stdout.split('\n\n').find((s) => /^TID \d+ "js-primes" /.test(s));
    const waiter = r.stdout.split('\n\n').find((s) => /^TID \d+ "js-waiter" /.test(s));
    expect(primes).toBeDefined();
    expect(waiter).toBeDefined();
    expect(primes).toMatch(/computePrimes/); // JS frames named through the perf map
    expect(isAlive(pid)).toBe(false);
    expect(fs.existsSync(`/tmp/perf-${pid}.map`)).toBe(false);
  });

  it('--json prints the demo snapshot as JSON', async () => {
    const r = await cli(['demo', '--json']);
    expect(r.code).toBe(0);
    const snap = JSON.parse(r.stdout) as Snapshot;
    const names = snap.threads.map((t) => t.name);
    expect(names).toContain('js-primes');
    expect(names).toContain('js-waiter');
    expect(snap.threads.find((t) => t.tid === snap.pid)?.name).toBe('node');
    expect(snap.threads.length).toBeGreaterThanOrEqual(3);
    expect(isAlive(snap.pid)).toBe(false);
    expect(fs.existsSync(`/tmp/perf-${snap.pid}.map`)).toBe(false);
  });

  it('SIGINT while the demo starts kills the workload and removes its perf map', async () => {
    const { child, done } = startCli(['demo']);
    let workload = 0;
    await waitUntil(() => {
      workload = grandchildrenMatching(child.pid!, 'workload.js')[0] ?? 0;
      return workload > 0;
    });
    child.kill('SIGINT');
    const r = await done;
    expect(r.signal).toBe('SIGINT');
    expect(r.stderr).not.toMatch(/^\s+at /m);
    await waitUntil(() => !isAlive(workload), 5_000);
    expect(fs.existsSync(`/tmp/perf-${workload}.map`)).toBe(false);
  });

  it('even SIGKILL of the CLI does not leave the workload running', async () => {
    const { child, done } = startCli(['demo']);
    let workload = 0;
    await waitUntil(() => {
      workload = grandchildrenMatching(child.pid!, 'workload.js')[0] ?? 0;
      return workload > 0;
    });
    child.kill('SIGKILL');
    await done;
    await waitUntil(() => !isAlive(workload), 10_000); // the launcher's lifeline killed it
    fs.rmSync(`/tmp/perf-${workload}.map`, { force: true }); // nobody was left to remove it
  });
});

describe('stackshot: output paths, files and words users try', () => {
  it('--save into a missing directory: the path problem, exit 1, before any capture', async () => {
    const r = await cli(['1', '--save', 'missing-dir/x.json']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'stackshot: cannot write missing-dir/x.json: no such directory [ENOENT]\n' +
        'hint: give a path in an existing directory you can write to\n',
    );
  });

  it.skipIf(!ADDON_BUILT)('record -o into a missing directory: the same, exit 1', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli(['record', String(t.pid), '-o', 'missing-dir/x.svg', '--duration', '1']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      'stackshot: cannot write missing-dir/x.svg: no such directory [ENOENT]\n' +
        'hint: give a path in an existing directory you can write to\n',
    );
  });

  it('audit of a missing file and of a file that is not ELF: exit 1, each named', async () => {
    const missing = await cli(['audit', '/nonexistent']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('stackshot: cannot audit /nonexistent: no such file\n');
    const passwd = await cli(['audit', '/etc/passwd']);
    expect(passwd.code).toBe(1);
    expect(passwd.stderr).toBe('stackshot: cannot audit /etc/passwd: not an ELF file\n');
  });

  it('help, help <command>, -h, -v, -V, --version', async () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const args of [['help'], ['-h']]) {
      const r = await cli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: stackshot \[options\] \[command\] <pid>/);
    }
    const h = await cli(['help', 'record']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: stackshot record \[options\] <pid>/);
    for (const flag of ['-v', '-V', '--version']) {
      const r = await cli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${pkg.version}\n`);
    }
  });

  it.skipIf(!ADDON_BUILT)('the JSON carries its format version', async () => {
    const t = await grandchild(['sleep', '60']);
    const r = await cli([String(t.pid), '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Snapshot).version).toBe(1);
  });
});

describe('stackshot audit: executes nothing', () => {
  const debianPython = '/usr/bin/python3.11';
  const ready = HAVE_STRACE && process.getuid!() === 0 && fs.existsSync(debianPython);

  it.skipIf(!ready)(
    'of a process run from a user-owned interpreter copy, as root: no exec but node (strace -f), asked or not',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-userpy-cli-'));
      try {
        const copy = path.join(dir, 'python3.11');
        fs.copyFileSync(debianPython, copy);
        fs.chmodSync(copy, 0o755);
        fs.chownSync(copy, 65534, 65534); // a user's own copy (nobody's here)
        const t = await startTarget(copy, ['-u', '-c', "import time\nprint('ready')\ntime.sleep(60)"]);
        for (const extra of [[], ['--interpreter']]) {
          const log = path.join(dir, `execs${extra.length}`);
          const strace = ['strace', '-f', '-qq', '-e', 'trace=execve,execveat', '-e', 'signal=none', '-o', log];
          const r = await cli(['audit', String(t.pid), ...extra], strace);
          expect(r.code, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/python/i);
          // strace writes one line per exec: the CLI's own node, and nothing else.
          const execs = fs
            .readFileSync(log, 'utf8')
            .split('\n')
            .filter((l) => /execve(at)?\(/.test(l));
          expect(execs).toHaveLength(1);
          expect(execs[0]).toContain(`execve("${process.execPath}"`);
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
