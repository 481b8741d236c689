// `stackshot doctor [pid]` (src/doctor.ts): the preflight reports the real state of this machine
// and of real targets, and says what to change. Unprivileged cases run the compiled doctor
// (dist/, built by `npm test`) in a child dropped to uid 65534 with no capabilities (setpriv).
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { runDoctor } from '../src/cli/doctor-command';
import { doctor, doctorError, formatDoctor, type DoctorReport } from '../src/doctor';
import { compileFixture } from './helpers/fixtures';
import { startFixture, startNode, startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

afterEach(async () => {
  await stopAllTargets();
});

const DIST_DOCTOR = path.resolve(__dirname, '..', 'dist', 'doctor.js');
const NOBODY = ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all'];
const HAVE_SETPRIV = fs.existsSync('/usr/bin/setpriv') && fs.existsSync(DIST_DOCTOR);
const HAVE_STRACE = have('strace');

const check = (r: DoctorReport, id: string) => {
  const c = r.checks.find((x) => x.id === id);
  if (!c) throw new Error(`no ${id} check in ${JSON.stringify(r.checks.map((x) => x.id))}`);
  return c;
};

/** doctor(pid) as uid 65534 without capabilities. */
function doctorAsNobody(pid: number): DoctorReport {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const out = execFileSync(
    'setpriv',
    [
      ...NOBODY,
      process.execPath,
      '-e',
      `process.stdout.write(JSON.stringify(require(${JSON.stringify(DIST_DOCTOR)}).doctor(${pid})))`,
    ],
    { encoding: 'utf8', env },
  );
  return JSON.parse(out) as DoctorReport;
}

describe('doctor()', () => {
  it('reports this machine: platform, addon, capability, Yama, seccomp, pid namespace', () => {
    const r = doctor();
    expect(r.checks.map((c) => c.id)).toEqual(
      expect.arrayContaining(['platform', 'addon', 'capability', 'yama', 'seccomp', 'pid-namespace']),
    );
    expect(check(r, 'addon').status).toBe('ok');
    const status = fs.readFileSync('/proc/self/status', 'utf8');
    const capEff = BigInt('0x' + /CapEff:\s*([0-9a-f]+)/.exec(status)![1]);
    expect(check(r, 'capability').status).toBe((capEff >> 19n) & 1n ? 'ok' : 'warn');
    const seccomp = /Seccomp:\s*(\d)/.exec(status)?.[1];
    expect(check(r, 'seccomp').detail).toContain(`Seccomp: ${seccomp}`);
    const yama = fs.existsSync('/proc/sys/kernel/yama/ptrace_scope')
      ? fs.readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim()
      : null;
    expect(check(r, 'yama').detail).toContain(yama === null ? 'not enabled' : `ptrace_scope is ${yama}`);
    expect(r.ok).toBe(r.checks.every((c) => c.status !== 'fail'));
    expect(formatDoctor(r)).toMatch(/^\[(ok {2}|warn|info|FAIL)\] platform/);
    expect(doctorError(r) === null).toBe(r.ok);
  });

  it('passes a live target of ours, and names the process id for a thread id', async () => {
    const target = await startFixture('threads', 'fp');
    const r = doctor(target.pid);
    expect(r.pid).toBe(target.pid);
    expect(r.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(r.ok).toBe(true);
    for (const id of ['target', 'tracer', 'permission', 'maps', 'pid-namespace', 'perf-map'])
      expect(check(r, id).status).not.toBe('fail');
    expect(check(r, 'perf-map').status).toBe('info'); // native code: no perf map needed
    // This kernel reports sleeping threads' registers and switch counts (blocked threads are read
    // without a stop: test/capture-paths.test.ts), and doctor says so.
    expect(check(r, 'capture-blocked').status).toBe('ok');
    expect(check(r, 'capture-paths').detail).toMatch(/^capture paths allowed: blocked, ptrace /);
    const tid = Number(fs.readdirSync(`/proc/${target.pid}/task`).find((t) => Number(t) !== target.pid));
    expect(doctor(tid).pid).toBe(target.pid);
  });

  it('fails a pid that does not exist, and a zombie, with the snapshot error code', async () => {
    const r = doctor(4_000_000);
    expect(r.ok).toBe(false);
    expect(check(r, 'target')).toMatchObject({ status: 'fail', code: 'ESRCH', reason: 'no-such-process' });
    const err = doctorError(r)!;
    expect(err).toMatchObject({ code: 'ESRCH', reason: 'no-such-process' });
    expect(err.hint).toContain('ps -e');

    const parent = await startTarget(compileFixture('rel_zombie', 'fp'), ['child']);
    const zombie = Number(/zombie (\d+)/.exec(parent.stdout)?.[1]);
    expect(check(doctor(zombie), 'target')).toMatchObject({ status: 'fail', code: 'ESRCH', reason: 'zombie' });
  });

  it.skipIf(!HAVE_STRACE)('fails a target under strace, naming the tracer', async () => {
    const target = await startFixture('idle', 'fp');
    const tracer = spawn('strace', ['-p', String(target.pid), '-o', '/dev/null'], { stdio: 'ignore' });
    try {
      const deadline = Date.now() + 5000;
      while (!/TracerPid:\s*[1-9]/.test(fs.readFileSync(`/proc/${target.pid}/status`, 'utf8'))) {
        if (Date.now() > deadline) throw new Error('strace did not attach');
        await new Promise((r) => setTimeout(r, 10));
      }
      const r = doctor(target.pid);
      expect(check(r, 'tracer')).toMatchObject({ status: 'fail', code: 'EPERM', reason: 'already-traced' });
      expect(check(r, 'tracer').detail).toBe(`already traced by pid ${tracer.pid} (strace)`);
      expect(check(r, 'tracer').fix).toMatch(/detach or quit/);
      expect(formatDoctor(r)).toMatch(/\[FAIL\] tracer +already traced by pid \d+ \(strace\)\n +fix: /);
    } finally {
      tracer.kill('SIGKILL');
    }
  });

  it('a node target without a perf map needs none (V8 metadata), and one that has it is found', async () => {
    const bare = await startNode("console.log('ready'); setInterval(() => {}, 1000);");
    const r = check(doctor(bare.pid), 'perf-map');
    // This machine's node carries readable V8 metadata: JS frames are named without the flag.
    expect(r.status).toBe('ok');
    expect(r.detail).toMatch(/none needed: JavaScript frames are named from V8's own metadata \(V8 \d+\./);
    const withMap = await startNode("console.log('ready'); setInterval(() => {}, 1000);", ['--perf-basic-prof']);
    try {
      const c = check(doctor(withMap.pid), 'perf-map');
      expect(c.status).toBe('ok');
      expect(c.detail).toContain(`/tmp/perf-${withMap.pid}.map`);
    } finally {
      await withMap.stop();
      fs.rmSync(`/tmp/perf-${withMap.pid}.map`, { force: true });
    }
  });

  it.skipIf(!HAVE_SETPRIV)(
    'as an unprivileged user: no capability, refused for root targets, allowed for its own',
    async () => {
      const rootTarget = await startFixture('idle', 'fp');
      const r = doctorAsNobody(rootTarget.pid);
      expect(check(r, 'capability').status).toBe('warn');
      expect(check(r, 'capability').fix).toMatch(/SYS_PTRACE/);
      expect(check(r, 'permission')).toMatchObject({ status: 'fail', code: 'EPERM', reason: 'other-uid' });
      expect(check(r, 'permission').fix).toContain('root');
      expect(check(r, 'maps').status).toBe('fail'); // what the kernel really says agrees
      expect(check(r, 'capture-blocked')).toMatchObject({ status: 'warn' });
      expect(check(r, 'capture-blocked').detail).toMatch(/syscall cannot be read \(EACCES\)/);
      expect(check(r, 'capture-paths').detail).toMatch(/no capture path is allowed/);
      expect(r.ok).toBe(false);

      const own = await startTarget('/usr/bin/setpriv', [...NOBODY, compileFixture('idle', 'fp')]);
      const mine = doctorAsNobody(own.pid);
      expect(check(mine, 'permission').status).toBe('ok');
      expect(check(mine, 'maps').status).toBe('ok');
      expect(check(mine, 'capture-blocked').status).toBe('ok');
      expect(mine.checks.filter((c) => c.status === 'fail')).toEqual([]);
    },
  );
});

describe('runDoctor (the `stackshot doctor [pid]` action)', () => {
  it('prints the report, and throws the first failure as a StackshotError (exit status 1)', () => {
    let text = '';
    expect(() => runDoctor(4_000_000, {}, (s) => (text += s))).toThrow(
      expect.objectContaining({ code: 'ESRCH', reason: 'no-such-process' }),
    );
    expect(text).toMatch(/\[FAIL\] target +no process with pid 4000000\n +fix: /);
    expect(text).toMatch(/1 check failed: pid 4000000 cannot be snapshotted until fixed\n$/);
  });

  it('--json prints the DoctorReport', () => {
    let text = '';
    const r = runDoctor(undefined, { json: true }, (s) => (text += s));
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(r)));
    expect(r.ok).toBe(true);
  });
});
