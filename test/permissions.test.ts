// Permission diagnosis (src/procfs/permissions.ts): the /proc facts it reads and the reason it
// gives for a refused attach, on real processes and real tracers.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toStackshotError } from '../src/capture/capture-error';
import { StackshotError } from '../src/errors';
import { checkTarget, isKernelThreadFlags, parseProcStat, PF_KTHREAD } from '../src/procfs/preflight';
import { diagnosePermission, gatherPermissionFacts, readYamaScope } from '../src/procfs/permissions';
import { parseProcStatus } from '../src/procfs/proc-status';
import { CAP_SYS_PTRACE, hasCapability } from '../src/procfs/ptrace-rules';
import { compileFixture } from './helpers/fixtures';
import { tracerPid, waitUntil } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

const HAVE_GCC = have('gcc');
const HAVE_STRACE = have('strace');
const HAS_CAP_SYS_PTRACE = hasCapability(
  parseProcStatus(fs.readFileSync('/proc/self/status', 'utf8')).capEff,
  CAP_SYS_PTRACE,
);

/** Tracers started directly (they need no grandchild: nobody ptraces them). */
const liveTracers = new Set<ChildProcess>();

afterEach(async () => {
  await Promise.all(
    [...liveTracers].map(async (c) => {
      liveTracers.delete(c);
      if (c.exitCode === null && c.signalCode === null) {
        const exited = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await exited;
      }
    }),
  );
  await stopAllTargets();
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
    expect(readYamaScope(path.join(os.tmpdir(), `stackshot-no-such-file-${process.pid}`))).toBeNull();
  });
});

describe('diagnosePermission', () => {
  it('gathers the facts about our own grandchild: descendant, dumpable, not traced', async () => {
    const p = await startTarget('sleep', ['60'], { ready: null });
    const f = gatherPermissionFacts(p.pid);
    expect(f.target?.tgid).toBe(p.pid);
    expect(f.target?.tracerPid).toBe(0);
    expect(f.isDescendant).toBe(true);
    expect(f.self.pid).toBe(process.pid);
    expect(f.dumpable === true || f.dumpable === null).toBe(true);
  });

  it.skipIf(!HAVE_GCC)('sees a real non-dumpable process as not dumpable', async () => {
    const bin = compileFixture('nodump', 'fp');
    // setpriv execs the fixture: the same pid, now of user 65534.
    const p = await startTarget('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', bin]);
    const f = gatherPermissionFacts(p.pid);
    expect(f.target?.uid[1]).toBe(65534);
    expect(f.dumpable).toBe(false);
  });

  const tracers: Array<[string, boolean, (pid: number) => string[]]> = [
    ['strace', HAVE_STRACE, (pid) => ['strace', '-p', String(pid), '-o', '/dev/null']],
    ['seize-tracer', HAVE_GCC, (pid) => [compileFixture('seize-tracer', 'fp'), String(pid)]],
  ];

  for (const [comm, available, argv] of tracers) {
    it.skipIf(!available)(`names a real tracer (${comm}) as already-traced`, async () => {
      const target = await startTarget('sleep', ['60'], { ready: null });
      const cmd = argv(target.pid);
      const tracer = spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
      liveTracers.add(tracer);
      await waitUntil(() => tracerPid(target.pid) === tracer.pid);

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

      tracer.kill('SIGKILL');
      await waitUntil(() => tracerPid(target.pid) === 0);
    });
  }

  // Without CAP_SYS_PTRACE, Yama or the uids would explain the refusal: the case needs it.
  it.skipIf(!HAS_CAP_SYS_PTRACE)(
    'says unknown when nothing explains a refusal (CAP_SYS_PTRACE, untraced target)',
    async () => {
      const p = await startTarget('sleep', ['60'], { ready: null });
      const d = diagnosePermission(p.pid);
      expect(d.reason).toBe('unknown');
      expect(d.hint).toMatch(/seccomp/);
    },
  );

  it('reports a process that is gone', () => {
    expect(diagnosePermission(4_194_305).reason).toBe('unknown');
    expect(diagnosePermission(4_194_305).message).toMatch(/exited/);
  });
});
