// StackshotError, toStackshotError, checkTarget (preflight) and diagnosePermission, on real
// processes: every target is a grandchild started through `sh -c '... & echo $!; wait'` (libuv
// reaps direct children and would steal ptrace stops), and every process is killed afterwards.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { toStackshotError } from '../src/capture/capture-error';
import { StackshotError, errnoName, errnoOf } from '../src/errors';
import { record, type RecordOptions } from '../src/record';
import { snapshot, snapshotSync } from '../src/snapshot';
import type { SnapshotOptions } from '../src/types';
import { checkTarget, isKernelThreadFlags, parseProcStat, PF_KTHREAD } from '../src/procfs/preflight';
import { diagnosePermission, gatherPermissionFacts, readYamaScope } from '../src/procfs/permissions';
import { parseProcStatus } from '../src/procfs/proc-status';
import { CAP_SYS_PTRACE, hasCapability } from '../src/procfs/ptrace-rules';

// ---------------------------------------------------------------------------------------------
// Real processes

interface Proc {
  pid: number;
  /** The direct child (the intermediate shell, or the tracer itself). */
  child: ChildProcess;
  /** Resolves with the first stdout line matching re. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  kill(): Promise<void>;
}

const running = new Set<Proc>();

function track(child: ChildProcess, pidOf: (lines: string[]) => number | undefined): Promise<Proc> {
  const lines: string[] = [];
  let buf = '';
  const waiters: Array<() => void> = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => ((exited = true), resolve())));
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => {
    buf += s;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
    waiters.splice(0).forEach((w) => w());
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (s: string) => (stderr += s));
  const line = (re: RegExp, timeoutMs = 15_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no line ${re} (stderr: ${stderr})`)), timeoutMs);
      const check = (): void => {
        const hit = lines.find((l) => re.test(l));
        if (hit !== undefined) {
          clearTimeout(timer);
          resolve(hit);
        } else if (exited) {
          clearTimeout(timer);
          reject(new Error(`exited without ${re} (stderr: ${stderr})`));
        } else waiters.push(check);
      };
      void exit.then(() => waiters.splice(0).forEach((w) => w()));
      check();
    });
  return (async () => {
    await line(/^\d+$/);
    const proc: Proc = {
      pid: pidOf(lines)!,
      child,
      line,
      async kill() {
        running.delete(proc);
        if (!exited) {
          // While the direct child lives, the grandchild is not reaped: its pid is still ours.
          // Kill it and let the shell reap it (its `wait` returns); kill the shell only if not.
          try {
            process.kill(proc.pid, 'SIGKILL');
          } catch {
            /* gone */
          }
          const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
          await exit;
          clearTimeout(timer);
        }
        await exit;
      },
    };
    running.add(proc);
    return proc;
  })();
}

/** Start argv as a grandchild; prefix (e.g. setpriv ...) wraps the intermediate shell. */
function grandchild(argv: string[], prefix: string[] = []): Promise<Proc> {
  const cmd = [...prefix, '/bin/sh', '-c', '"$@" & echo "$!"; wait', 'sh', ...argv];
  const child = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: os.tmpdir() });
  return track(child, (lines) => Number(lines.find((l) => /^\d+$/.test(l))));
}

afterEach(async () => {
  await Promise.all([...running].map((p) => p.kill()));
});

function tracerPidOf(pid: number): number {
  return parseProcStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8')).tracerPid;
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

function have(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

// A tiny real tracer: PTRACE_SEIZE the pid, say so, hold it until killed.
const SEIZE_TRACER_C = `
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/ptrace.h>
int main(int argc, char **argv) {
  pid_t pid = atoi(argv[1]);
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) { perror("PTRACE_SEIZE"); return 1; }
  printf("seized\\n"); fflush(stdout);
  for (;;) pause();
}
`;

// A process that makes itself non-dumpable, then sleeps.
const NODUMP_C = `
#include <stdio.h>
#include <unistd.h>
#include <sys/prctl.h>
int main(void) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) { perror("prctl"); return 1; }
  printf("ready\\n"); fflush(stdout);
  for (;;) pause();
}
`;

let cdir = '';
const HAVE_GCC = have('gcc');
const HAVE_STRACE = have('strace');

function compile(name: string, source: string): string {
  const src = path.join(cdir, `${name}.c`);
  const bin = path.join(cdir, name);
  if (!fs.existsSync(bin)) {
    fs.writeFileSync(src, source);
    const r = spawnSync('gcc', ['-O1', '-o', bin, src], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gcc failed: ${r.stderr}`);
  }
  return bin;
}

beforeAll(() => {
  cdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-errors-'));
  fs.chmodSync(cdir, 0o755);
});
afterAll(() => {
  fs.rmSync(cdir, { recursive: true, force: true });
});

function catchError(fn: () => unknown): StackshotError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(StackshotError);
    return e as StackshotError;
  }
  throw new Error('expected a StackshotError');
}

// ---------------------------------------------------------------------------------------------

describe('StackshotError', () => {
  it('has the Node SystemError shape with a negative errno', () => {
    const e = new StackshotError({ code: 'EPERM', syscall: 'ptrace', reason: 'yama', message: 'm', hint: 'h', pid: 7 });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('StackshotError');
    expect(e.errno).toBe(-os.constants.errno.EPERM);
    expect(e).toMatchObject({ code: 'EPERM', syscall: 'ptrace', reason: 'yama', message: 'm', hint: 'h', pid: 7 });
    expect(e.stack).toBeTypeOf('string');
  });

  it('errnoOf / errnoName convert both ways', () => {
    expect(errnoOf('ESRCH')).toBe(-3);
    expect(errnoOf('NOPE')).toBe(-4094);
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(-16)).toBe('EBUSY');
    expect(errnoName(0)).toBeUndefined();
  });
});

describe('toStackshotError', () => {
  it('keeps code and syscall of a native error and adds reason and hint', () => {
    const raw = Object.assign(new Error('ptrace: No such process'), { errno: 3, code: 'ESRCH', syscall: 'ptrace' });
    const e = toStackshotError(4242, raw);
    expect(e).toMatchObject({ code: 'ESRCH', errno: -3, syscall: 'ptrace', reason: 'no-such-process', pid: 4242 });
    expect(e.message).toMatch(/^cannot attach to pid 4242: /);
    expect(e.hint.length).toBeGreaterThan(10);
    expect(e.cause).toBe(raw);
  });

  it('derives the code from a bare errno', () => {
    const e = toStackshotError(1, Object.assign(new Error('x'), { errno: 16, syscall: 'ptrace' }));
    expect(e.code).toBe('EBUSY');
    expect(e.errno).toBe(-16);
  });

  it('wraps non-system errors as UNKNOWN and passes StackshotErrors through', () => {
    const bug = new TypeError('boom');
    const e = toStackshotError(5, bug);
    expect(e).toMatchObject({ code: 'UNKNOWN', reason: 'unknown', pid: 5 });
    expect(e.message).toContain('boom');
    expect(e.cause).toBe(bug);
    expect(toStackshotError(5, e)).toBe(e);
    expect(toStackshotError(5, 'a string').code).toBe('UNKNOWN');
  });
});

describe('checkTarget', () => {
  it.each([['abc'], [0], [-5], [1.5], [NaN], [Infinity], [null], [undefined], [{}], ['12abc'], [''], [2 ** 53]])(
    'rejects %j as EINVAL not-integer',
    (bad) => {
      const e = catchError(() => checkTarget(bad));
      expect(e).toMatchObject({ code: 'EINVAL', errno: -os.constants.errno.EINVAL, reason: 'not-integer' });
      expect(e.hint).toMatch(/process id/);
    },
  );

  it('rejects our own pid, as a number or a string', () => {
    for (const pid of [process.pid, String(process.pid)]) {
      const e = catchError(() => checkTarget(pid));
      expect(e).toMatchObject({ code: 'EINVAL', reason: 'own-pid', pid: process.pid });
    }
  });

  it('rejects any thread of our own thread group', () => {
    const tids = fs
      .readdirSync('/proc/self/task')
      .map(Number)
      .filter((t) => t !== process.pid);
    expect(tids.length).toBeGreaterThan(0); // node always has V8 platform threads
    for (const tid of tids) expect(catchError(() => checkTarget(tid)).reason).toBe('own-pid');
  });

  it('rejects pids that do not exist with ESRCH', () => {
    for (const pid of [4_194_305, 2 ** 31 - 1, 2 ** 40]) {
      const e = catchError(() => checkTarget(pid));
      expect(e).toMatchObject({ code: 'ESRCH', errno: -os.constants.errno.ESRCH, reason: 'no-such-process', pid });
    }
  });

  it('rejects kthreadd (pid 2) and other kernel threads', () => {
    const e = catchError(() => checkTarget(2));
    expect(e).toMatchObject({ code: 'EINVAL', reason: 'kernel-thread', pid: 2 });
    expect(e.message).toBe('pid 2 (kthreadd) is a kernel thread: it has no user-space stack');
    const others = fs
      .readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d) && d !== '2')
      .filter((d) => {
        try {
          return isKernelThreadFlags(parseProcStat(fs.readFileSync(`/proc/${d}/stat`, 'utf8')).flags);
        } catch {
          return false;
        }
      })
      .slice(0, 5);
    for (const d of others) expect(catchError(() => checkTarget(Number(d))).reason).toBe('kernel-thread');
  });

  it('rejects a zombie with ESRCH zombie, naming its parent', async () => {
    // The short sleep exits after its parent has become `sleep 60`, which never reaps it.
    const child = spawn('/bin/sh', ['-c', 'sleep 0.2 & echo "$!"; exec sleep 60'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const proc = await track(child, (lines) => Number(lines[0]));
    const zombie = proc.pid;
    proc.pid = child.pid!; // kill() kills the sleeping parent; pid 1 then reaps the zombie
    await until(() => parseProcStat(fs.readFileSync(`/proc/${zombie}/stat`, 'utf8')).state === 'Z');
    const e = catchError(() => checkTarget(zombie));
    expect(e).toMatchObject({ code: 'ESRCH', reason: 'zombie', pid: zombie });
    expect(e.message).toContain(`is a zombie`);
    expect(e.message).toContain(`(pid ${child.pid})`);
  });

  it('accepts a live process and returns its pid', async () => {
    const p = await grandchild(['sleep', '60']);
    expect(checkTarget(p.pid)).toBe(p.pid);
    expect(checkTarget(String(p.pid))).toBe(p.pid);
  });

  it('resolves the tid of a non-leader thread to its process', async () => {
    const script =
      "new (require('worker_threads').Worker)('setInterval(()=>{},1000)',{eval:true}).on('online',()=>console.log('ready'));setInterval(()=>{},1000)";
    const p = await grandchild([process.execPath, '-e', script]);
    await p.line(/^ready$/);
    const tids = fs
      .readdirSync(`/proc/${p.pid}/task`)
      .map(Number)
      .filter((t) => t !== p.pid);
    expect(tids.length).toBeGreaterThan(0);
    for (const tid of tids) expect(checkTarget(tid)).toBe(p.pid);
  });

  it('parses a comm with spaces and parentheses', async () => {
    const odd = path.join(cdir, 'sl) (eep x');
    fs.copyFileSync('/bin/sleep', odd);
    fs.chmodSync(odd, 0o755);
    const p = await grandchild([odd, '60']);
    await until(() => fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sl) (eep x');
    const st = parseProcStat(fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8'));
    expect(st).toMatchObject({ pid: p.pid, comm: 'sl) (eep x', ppid: p.child.pid });
    expect('RS').toContain(st.state);
    expect(checkTarget(p.pid)).toBe(p.pid);
  });
});

describe('/proc parsing', () => {
  it('parseProcStatus reads our own status', () => {
    const st = parseProcStatus(fs.readFileSync('/proc/self/status', 'utf8'));
    expect(st.tgid).toBe(process.pid);
    expect(st.pid).toBe(process.pid);
    expect(st.ppid).toBe(process.ppid);
    expect(st.uid[0]).toBe(process.getuid!());
    expect(st.uid).toHaveLength(4);
    expect(st.gid[0]).toBe(process.getgid!());
    expect(st.tracerPid).toBe(0);
    const capEffLine = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]!;
    expect(st.capEff).toBe(BigInt('0x' + capEffLine));
    if (process.getuid!() === 0 && st.capEff !== 0n) expect(hasCapability(st.capEff, CAP_SYS_PTRACE)).toBe(true);
  });

  it('parseProcStatus and parseProcStat see kthreadd as a kernel thread', () => {
    const st = parseProcStatus(fs.readFileSync('/proc/2/status', 'utf8'));
    expect(st.name).toBe('kthreadd');
    if (st.kthread !== undefined) expect(st.kthread).toBe(true);
    const stat = parseProcStat(fs.readFileSync('/proc/2/stat', 'utf8'));
    expect(stat.comm).toBe('kthreadd');
    expect(stat.flags & PF_KTHREAD).toBe(PF_KTHREAD);
    expect(isKernelThreadFlags(parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8')).flags)).toBe(false);
  });

  it('hasCapability tests single bits', () => {
    expect(hasCapability(1n << 19n, CAP_SYS_PTRACE)).toBe(true);
    expect(hasCapability((1n << 19n) - 1n, CAP_SYS_PTRACE)).toBe(false);
  });

  it('readYamaScope matches the real sysctl (null when Yama is not enabled)', () => {
    const file = '/proc/sys/kernel/yama/ptrace_scope';
    const expected = fs.existsSync(file) ? Number(fs.readFileSync(file, 'utf8')) : null;
    expect(readYamaScope()).toBe(expected);
    expect(readYamaScope(path.join(cdir, 'no-such-file'))).toBeNull();
  });
});

describe('diagnosePermission', () => {
  it('gathers the facts about our own grandchild: descendant, dumpable, not traced', async () => {
    const p = await grandchild(['sleep', '60']);
    const f = gatherPermissionFacts(p.pid);
    expect(f.target?.tgid).toBe(p.pid);
    expect(f.target?.tracerPid).toBe(0);
    expect(f.isDescendant).toBe(true);
    expect(f.self.pid).toBe(process.pid);
    expect(f.dumpable === true || f.dumpable === null).toBe(true);
  });

  it.skipIf(!HAVE_GCC)('sees a real non-dumpable process as not dumpable', async () => {
    const bin = compile('nodump', NODUMP_C);
    const p = await grandchild([bin], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
    await p.line(/^ready$/);
    const f = gatherPermissionFacts(p.pid);
    expect(f.target?.uid[1]).toBe(65534);
    expect(f.dumpable).toBe(false);
  });

  const tracers: Array<[string, boolean, (pid: number) => string[]]> = [
    ['strace', HAVE_STRACE, (pid) => ['strace', '-p', String(pid), '-o', '/dev/null']],
    ['seize-tracer', HAVE_GCC, (pid) => [compile('seize-tracer', SEIZE_TRACER_C), String(pid)]],
  ];

  for (const [comm, available, argv] of tracers) {
    it.skipIf(!available)(`names a real tracer (${comm}) as already-traced`, async () => {
      const target = await grandchild(['sleep', '60']);
      const cmd = argv(target.pid);
      const tracerChild = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      const tracer: Proc = {
        pid: tracerChild.pid!,
        child: tracerChild,
        line: () => Promise.resolve(''),
        kill: async () => {
          running.delete(tracer);
          if (tracerChild.exitCode === null && tracerChild.signalCode === null) {
            const exited = new Promise((r) => tracerChild.once('exit', r));
            tracerChild.kill('SIGKILL');
            await exited;
          }
        },
      };
      running.add(tracer);
      await until(() => tracerPidOf(target.pid) === tracer.pid);

      const d = diagnosePermission(target.pid);
      expect(d.reason).toBe('already-traced');
      expect(d.message).toBe(`already traced by pid ${tracer.pid} (${comm})`);
      expect(d.hint).toContain(`pid ${tracer.pid}`);

      const raw = Object.assign(new Error('ptrace'), { errno: 1, code: 'EPERM', syscall: 'ptrace' });
      const e = toStackshotError(target.pid, raw);
      expect(e).toMatchObject({ code: 'EPERM', errno: -1, reason: 'already-traced', pid: target.pid });
      expect(e.message).toBe(`cannot attach to pid ${target.pid}: already traced by pid ${tracer.pid} (${comm})`);

      // checkTarget does not judge permissions: it lets the kernel decide.
      expect(checkTarget(target.pid)).toBe(target.pid);

      // The whole path, when the native addon is built: the kernel refuses, we explain.
      const addonBuilt = fs.existsSync(path.join(__dirname, '..', 'build', 'Release', 'stackshot.node'));
      if (addonBuilt) {
        const { snapshot } = await import('../src/index');
        const err = await snapshot(target.pid).then(
          () => undefined,
          (x: unknown) => x,
        );
        expect(err).toBeInstanceOf(StackshotError);
        expect(err).toMatchObject({ code: 'EPERM', syscall: 'ptrace', reason: 'already-traced' });
        expect((err as StackshotError).message).toBe(e.message);
      }

      await tracer.kill();
      await until(() => tracerPidOf(target.pid) === 0);
    });
  }

  it('says unknown when nothing explains a refusal (root with CAP_SYS_PTRACE, untraced target)', async (ctx) => {
    const me = parseProcStatus(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!hasCapability(me.capEff, CAP_SYS_PTRACE))
      ctx.skip('needs CAP_SYS_PTRACE: without it a rule explains the refusal');
    const p = await grandchild(['sleep', '60']);
    const d = diagnosePermission(p.pid);
    expect(d.reason).toBe('unknown');
    expect(d.hint).toMatch(/seccomp/);
  });

  it('reports a process that is gone', () => {
    expect(diagnosePermission(4_194_305).reason).toBe('unknown');
    expect(diagnosePermission(4_194_305).message).toMatch(/exited/);
  });
});

describe('options the API does not know', () => {
  it('a misspelt option is refused like a bad value, naming the option it resembles', async () => {
    const bad = { maxframes: 5 } as unknown as SnapshotOptions;
    expect(() => snapshotSync(process.ppid, bad)).toThrow(
      expect.objectContaining({
        code: 'ERR_INVALID_ARG_VALUE',
        message: 'options.maxframes is not an option (did you mean maxFrames?)',
      }),
    );
    await expect(snapshot(process.ppid, { frobnicate: true } as unknown as SnapshotOptions)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_VALUE',
      message: 'options.frobnicate is not an option',
    });
    expect(() => record(process.ppid, { hz: 10, durationms: 5 } as unknown as RecordOptions)).toThrow(
      'options.durationms is not an option (did you mean durationMs?)',
    );
  });
});
