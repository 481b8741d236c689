// checkTarget (src/procfs/preflight.ts): what is refused before any ptrace call (bad pids, our
// own process, kernel threads, zombies) and what is accepted, on real processes.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StackshotError } from '../src/errors';
import { snapshot, snapshotSync } from '../src/index';
import { checkTarget, isKernelThreadFlags, parseProcStat, refuseUnsupported } from '../src/procfs/preflight';
import { parseProcStatus } from '../src/procfs/proc-status';
import { waitUntil } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

let cdir = '';
beforeAll(() => {
  cdir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-preflight-'));
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
    // Stopping the parent afterwards hands the zombie to pid 1, which reaps it.
    const parent = await startTarget('/bin/sh', ['-c', 'sleep 0.2 & echo "$!"; exec sleep 60'], {
      ready: /^\d+$/,
    });
    const zombie = Number(parent.stdout.trim().split('\n')[0]);
    await waitUntil(() => parseProcStat(fs.readFileSync(`/proc/${zombie}/stat`, 'utf8')).state === 'Z');
    const e = catchError(() => checkTarget(zombie));
    expect(e).toMatchObject({ code: 'ESRCH', reason: 'zombie', pid: zombie });
    expect(e.message).toContain(`is a zombie`);
    expect(e.message).toContain(`(pid ${parent.pid})`);
  });

  // Under load the process can exit between our read of its stat and of its memory: no memory
  // then means it is gone, not that it is a kernel thread (seen once in CI as EINVAL).
  it('a process that exited after its stat was read is gone (ESRCH), not a kernel thread', async () => {
    const parent = await startTarget('/bin/sh', ['-c', 'sleep 1 & echo "$!"; exec sleep 60'], { ready: /^\d+$/ });
    const pid = Number(parent.stdout.trim().split('\n')[0]);
    const status = parseProcStatus(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    const alive = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    expect('RS').toContain(alive.state);
    await waitUntil(() => parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).state === 'Z');
    expect(catchError(() => refuseUnsupported(pid, status, alive))).toMatchObject({ code: 'ESRCH', pid });
  });

  // A pid snapshotted before is taken on trust by the next snapshot, which its capture confirms
  // (the leader's start time, a live thread); what it does not confirm is checked afresh.
  it('a process snapshotted before, then a zombie, then reaped: refused as at first contact', async () => {
    const parent = await startTarget('/bin/sh', ['-c', 'sleep 1 & echo "$!"; exec sleep 60'], { ready: /^\d+$/ });
    const pid = Number(parent.stdout.trim().split('\n')[0]);
    expect(snapshotSync(pid).pid).toBe(pid);
    await waitUntil(() => parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).state === 'Z');
    expect(catchError(() => snapshotSync(pid))).toMatchObject({ code: 'ESRCH', reason: 'zombie', pid });
    expect(await snapshot(pid).catch((e: unknown) => e)).toMatchObject({ code: 'ESRCH', reason: 'zombie', pid });
    process.kill(parent.pid, 'SIGKILL'); // its parent ends: init reaps it
    await waitUntil(() => !fs.existsSync(`/proc/${pid}`));
    expect(catchError(() => snapshotSync(pid))).toMatchObject({ code: 'ESRCH', reason: 'no-such-process', pid });
  });

  it('accepts a live process and returns its pid', async () => {
    const p = await startTarget('sleep', ['60'], { ready: null });
    expect(checkTarget(p.pid)).toBe(p.pid);
    expect(checkTarget(String(p.pid))).toBe(p.pid);
  });

  it('resolves the tid of a non-leader thread to its process', async () => {
    const script =
      "new (require('worker_threads').Worker)('setInterval(()=>{},1000)',{eval:true}).on('online',()=>console.log('ready'));setInterval(()=>{},1000)";
    const p = await startTarget(process.execPath, ['-e', script], { env: {} });
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
    const p = await startTarget(odd, ['60'], { ready: null });
    await waitUntil(() => fs.readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sl) (eep x');
    const st = parseProcStat(fs.readFileSync(`/proc/${p.pid}/stat`, 'utf8'));
    expect(st).toMatchObject({ pid: p.pid, comm: 'sl) (eep x', ppid: p.intermediatePid });
    expect('RS').toContain(st.state);
    expect(checkTarget(p.pid)).toBe(p.pid);
  });
});
