// Tests of the test harness itself: fixture compilation, the fixture programs, the
// grandchild launcher and the /proc helpers. No stackshot code is involved.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import ts from 'typescript';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  compileFixture,
  EXPECTED_IDLE_STACK,
  EXPECTED_STACKS,
  EXPECTED_STEADY_STACK,
  expectedWorkerStack,
  FIXTURE_NAMES,
  FIXTURES_DIR,
  fixtureCacheRoot,
  FRAME_VARIANTS,
  type FrameMatcher,
  type FrameVariant,
  matchFrames,
  SPIN_DEPTH_FRAMES,
} from './helpers/fixtures';
import {
  assertDetached,
  assertNoThreadStopped,
  findThreadByName,
  isAlive,
  parentPid,
  threadIds,
  threadName,
  threadNames,
  threadStates,
  tracerPid,
} from './helpers/proc';
import {
  INTERMEDIATE_SCRIPT,
  liveTargetCount,
  queryRtCount,
  SIGRTMIN,
  startFixture,
  startNode,
  startPython,
  startTarget,
  stopAllTargets,
  type Target,
  waitForRtCount,
} from './helpers/target';
import { have } from './helpers/tools';

afterEach(async () => {
  await stopAllTargets();
});

afterAll(() => {
  expect(liveTargetCount()).toBe(0);
});

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The thread's state once it is `want`, or its last state after 10 s (a runnable moment passes). */
async function waitForState(pid: number, tid: number, want: string): Promise<string | undefined> {
  const until = Date.now() + 10_000;
  let state = threadStates(pid).get(tid);
  while (state !== want && Date.now() < until) {
    await sleep(5);
    state = threadStates(pid).get(tid);
  }
  return state;
}

async function waitGone(pid: number, ms = 3000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (fs.existsSync(`/proc/${pid}`)) {
    if (Date.now() > deadline) return false;
    await sleep(5);
  }
  return true;
}

/** Our own function names (those without a glibc/_start prefix) in a frame list. */
const OWN =
  /^(depth_\d\d|spin_leaf|spin_thread_main|leaf_sleep|sleeper_thread_main|wait_on_cond|condwait_thread_main|park_forever|joinee_thread_main|join_other|joiner_thread_main|wait_epoll|epoll_thread_main|read_pipe|reader_thread_main|blocked_in_handler|sigframe_handler|raise_in_thread|sigframe_thread_main|worker_leaf|worker_sleep|recurse|worker_thread_main|main_wait|main|idle_wait|steady_sleep|steady_thread_main)$/;

const ownOnly = (frames: readonly FrameMatcher[]): string[] => frames.filter((f): f is string => typeof f === 'string');

/** eu-stack -p: tid → function names, innermost first (physical frames). */
function euStack(pid: number): Map<number, string[]> {
  const out = execFileSync('eu-stack', ['-p', String(pid)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const threads = new Map<number, string[]>();
  let cur: string[] | undefined;
  for (const line of out.split('\n')) {
    const t = /^TID (\d+):/.exec(line);
    if (t) {
      cur = [];
      threads.set(Number(t[1]), cur);
      continue;
    }
    const f = /^#\d+\s+0x[0-9a-f]+\s+(\S+)/.exec(line);
    if (f && cur) cur.push(f[1]);
  }
  return threads;
}

/** gdb 'thread apply all bt': tid → function names, innermost first (includes inline frames). */
function gdbStacks(pid: number): Map<number, string[]> {
  const out = execFileSync(
    'gdb',
    ['-nx', '-batch', '-ex', 'set pagination off', '-ex', 'thread apply all bt', '-p', String(pid)],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const threads = new Map<number, string[]>();
  let cur: string[] | undefined;
  for (const line of out.split('\n')) {
    const t = /^Thread \d+ \(.*LWP (\d+)\)/.exec(line);
    if (t) {
      cur = [];
      threads.set(Number(t[1]), cur);
      continue;
    }
    const f = /^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)/.exec(line);
    if (f && cur) cur.push(f[1]);
  }
  return threads;
}

// ------------------------------------------------------------------------------------------
describe('fixture compilation', () => {
  it('compiles every fixture in both variants, cached by content', () => {
    for (const name of FIXTURE_NAMES) {
      for (const v of FRAME_VARIANTS) {
        const bin = compileFixture(name, v);
        expect(path.isAbsolute(bin)).toBe(true);
        expect(bin.startsWith(fixtureCacheRoot() + path.sep)).toBe(true);
        expect(path.basename(bin)).toBe(name);
        fs.accessSync(bin, fs.constants.X_OK);
        const mtime = fs.statSync(bin).mtimeMs;
        expect(compileFixture(name, v)).toBe(bin); // cached: same file, not rebuilt
        expect(fs.statSync(bin).mtimeMs).toBe(mtime);
      }
      expect(compileFixture(name, 'fp')).not.toBe(compileFixture(name, 'nofp'));
    }
    expect(() => compileFixture('../etc/passwd', 'fp')).toThrow(/bad fixture name/);
    expect(() => compileFixture('no_such_fixture', 'fp')).toThrow(/no fixture source/);
  });

  it('is safe when several processes compile the same fixture at once', async () => {
    // Run the real helper (transpiled to CommonJS) in 4 node processes against an empty cache.
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-harness-'));
    try {
      fs.mkdirSync(path.join(work, 'helpers'));
      fs.symlinkSync(FIXTURES_DIR, path.join(work, 'fixtures'));
      const src = fs.readFileSync(path.join(__dirname, 'helpers', 'fixtures.ts'), 'utf8');
      const js = ts.transpileModule(src, {
        compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
      });
      fs.writeFileSync(path.join(work, 'helpers', 'fixtures.js'), js.outputText);
      fs.copyFileSync(
        path.join(__dirname, 'helpers', 'fixture-flags.json'),
        path.join(work, 'helpers', 'fixture-flags.json'),
      );
      const cache = path.join(work, 'cache');
      const script = `process.stdout.write(require(${JSON.stringify(path.join(work, 'helpers', 'fixtures.js'))}).compileFixture('idle', 'nofp'))`;
      const runs = Array.from(
        { length: 4 },
        () =>
          new Promise<string>((resolve, reject) => {
            const c = spawn(process.execPath, ['-e', script], {
              env: { ...process.env, NODE_OPTIONS: '', STACKSHOT_FIXTURE_CACHE: cache },
            });
            let out = '';
            let err = '';
            c.stdout.on('data', (d: Buffer) => (out += d));
            c.stderr.on('data', (d: Buffer) => (err += d));
            c.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
          }),
      );
      const paths = await Promise.all(runs);
      expect(new Set(paths).size).toBe(1);
      const bin = paths[0];
      expect(bin.startsWith(cache)).toBe(true);
      const dir = path.dirname(bin);
      expect(fs.readdirSync(dir).sort()).toEqual(['idle', 'idle.build.json']); // no temp files left
      const t = await startTarget(bin);
      expect(t.pid).toBeGreaterThan(0);
      await t.stop();
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  const hasBinutils = have('nm') && have('objdump');

  it.skipIf(!hasBinutils)('fp variant sets up %rbp in every named function, nofp in none', () => {
    const ours = [
      ...SPIN_DEPTH_FRAMES,
      'spin_leaf',
      'spin_thread_main',
      'leaf_sleep',
      'wait_on_cond',
      'join_other',
      'wait_epoll',
      'read_pipe',
      'recurse',
      'worker_leaf',
      'main_wait',
    ];
    for (const v of FRAME_VARIANTS) {
      const bin = compileFixture('threads', v);
      const nm = execFileSync('nm', [bin], { encoding: 'utf8' });
      const text = new Set(
        nm
          .split('\n')
          .filter((l) => / [Tt] /.test(l))
          .map((l) => l.split(' ')[2]),
      );
      for (const fn of ours) expect(text.has(fn), `${v}: ${fn} in nm`).toBe(true);

      const dis = execFileSync('objdump', ['-d', '--no-show-raw-insn', bin], { encoding: 'utf8', maxBuffer: 64 << 20 });
      const prologue = new Map<string, string[]>();
      let cur: string[] | undefined;
      for (const line of dis.split('\n')) {
        const h = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
        if (h) {
          cur = [];
          prologue.set(h[1], cur);
          continue;
        }
        const ins = /^\s+[0-9a-f]+:\s+(.*)$/.exec(line);
        if (ins && cur && cur.length < 3) {
          const s = ins[1].replace(/\s+/g, ' ').trim();
          if (s !== 'endbr64') cur.push(s);
        }
      }
      for (const fn of ours) {
        const p = prologue.get(fn);
        expect(p, `${v}: ${fn} disassembled`).toBeDefined();
        const setsFp = p![0] === 'push %rbp' && p![1] === 'mov %rsp,%rbp';
        expect(setsFp, `${v}: ${fn} starts with ${JSON.stringify(p)}`).toBe(v === 'fp');
      }
    }
  });
});

// ------------------------------------------------------------------------------------------
const DEFAULT_THREADS = ['threads', 'spin', 'sleeper', 'condwait', 'joinee', 'joiner', 'epoller', 'reader'];

describe.each(FRAME_VARIANTS)('threads fixture (%s)', (variant: FrameVariant) => {
  it('starts as a grandchild, reports ready, has the named threads in the right states', async () => {
    const t = await startFixture('threads', variant);
    expect(t.pid).not.toBe(process.pid);
    expect(t.intermediatePid).not.toBe(t.pid);
    expect(parentPid(t.pid)).toBe(t.intermediatePid); // not a child of the test process
    expect(parentPid(t.intermediatePid)).toBe(process.pid);
    expect(fs.readFileSync(`/proc/${t.intermediatePid}/comm`, 'utf8').trim()).toBe('sh');
    expect(t.running).toBe(true);

    expect(t.stdout).toMatch(new RegExp(`^sigrtmin=${SIGRTMIN}$`, 'm'));
    expect(t.stdout).toMatch(/^ready$/m);
    const announced = new Map([...t.stdout.matchAll(/^thread (\S+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));

    const names = threadNames(t.pid);
    expect([...names.values()].sort()).toEqual([...DEFAULT_THREADS].sort());
    expect(threadIds(t.pid)).toHaveLength(DEFAULT_THREADS.length);
    expect(threadName(t.pid, t.pid)).toBe('threads');
    for (const n of DEFAULT_THREADS.slice(1)) {
      expect(findThreadByName(t.pid, n)).toBe(announced.get(n));
    }
    expect(() => findThreadByName(t.pid, 'nope')).toThrow(/no thread named/);

    const states = threadStates(t.pid);
    for (const [tid, name] of names) {
      expect(`${name}:${states.get(tid)}`).toBe(`${name}:${name === 'spin' ? 'R' : 'S'}`);
    }
    expect(tracerPid(t.pid)).toBe(0);
    assertNoThreadStopped(t.pid);
    assertDetached(t.pid);

    await t.stop();
    expect(fs.existsSync(`/proc/${t.pid}`)).toBe(false);
    expect(fs.existsSync(`/proc/${t.intermediatePid}`)).toBe(false);
    expect(await t.exited).toBe(137); // 128 + SIGKILL
    expect(t.running).toBe(false);
  });

  it('counts SIGRTMIN without losing any, and answers SIGUSR1 with rt=<n>', async () => {
    const t = await startFixture('threads', variant);
    expect(await queryRtCount(t)).toBe(0);
    for (let i = 0; i < 50; i++) process.kill(t.pid, SIGRTMIN);
    expect(await waitForRtCount(t, 50)).toBe(50);
    for (let i = 0; i < 25; i++) process.kill(findThreadByName(t.pid, 'sleeper'), SIGRTMIN); // to the tgid, still process-directed
    expect(await waitForRtCount(t, 75)).toBe(75);
    expect(await queryRtCount(t)).toBe(75);
    // EINTR did not kill anything: same threads, same states.
    expect(threadIds(t.pid)).toHaveLength(DEFAULT_THREADS.length);
    await sleep(30);
    const states = threadStates(t.pid);
    expect(states.get(findThreadByName(t.pid, 'spin'))).toBe('R');
    for (const n of ['sleeper', 'condwait', 'joiner', 'joinee', 'epoller', 'reader']) {
      expect(states.get(findThreadByName(t.pid, n)), n).toBe('S');
    }
  });

  it.skipIf(!have('eu-stack'))('every thread has exactly the expected stack (eu-stack)', async () => {
    const t = await startFixture('threads', variant, [
      '--only',
      'spin,sleeper,condwait,joiner,epoller,reader,sigframe',
    ]);
    const stacks = euStack(t.pid);
    const names = threadNames(t.pid);
    expect(stacks.size).toBe(names.size);
    for (const [tid, frames] of stacks) {
      const name = tid === t.pid ? 'main' : names.get(tid)!;
      expect(matchFrames(frames, EXPECTED_STACKS[name]), `${name}`).toBeNull();
    }
    assertDetached(t.pid, 1000); // eu-stack has let go
  });

  it.skipIf(!have('gdb'))('gdb sees the same own functions; threads are in t while it is attached', async () => {
    const t = await startFixture('threads', variant, [
      '--only',
      'spin,sleeper,condwait,joiner,epoller,reader,sigframe',
    ]);
    const stacks = gdbStacks(t.pid);
    const names = threadNames(t.pid);
    expect(stacks.size).toBe(names.size);
    for (const [tid, frames] of stacks) {
      const name = tid === t.pid ? 'main' : names.get(tid)!;
      expect(
        frames.filter((f) => OWN.test(f)),
        name,
      ).toEqual(ownOnly(EXPECTED_STACKS[name]));
    }
    // Attach gdb for a while and watch the helpers see it.
    const gdb = spawn('gdb', ['-nx', '-batch', '-ex', 'shell sleep 1', '-p', String(t.pid)], { stdio: 'ignore' });
    const gdbDone = new Promise<void>((r) => gdb.on('close', () => r()));
    try {
      const deadline = Date.now() + 10_000;
      while (tracerPid(t.pid) === 0 && Date.now() < deadline) await sleep(10);
      expect(tracerPid(t.pid)).toBe(gdb.pid);
      await sleep(100);
      expect(() => assertNoThreadStopped(t.pid)).toThrow(/stopped/);
      expect(() => assertDetached(t.pid)).toThrow();
    } finally {
      await gdbDone;
    }
    assertDetached(t.pid, 1000);
    expect(tracerPid(t.pid)).toBe(0);
  });

  it('--workers 8 --depth 20 is the 9-thread benchmark target', async () => {
    const t = await startFixture('threads', variant, ['--workers', '8', '--depth', '20']);
    const names = threadNames(t.pid);
    expect([...names.values()].sort()).toEqual(
      ['threads', ...Array.from({ length: 8 }, (_, i) => `worker-${i}`)].sort(),
    );
    const states = threadStates(t.pid);
    for (const [tid, name] of names) expect(`${name}:${states.get(tid)}`).toBe(`${name}:${tid === t.pid ? 'S' : 'R'}`);
    if (have('eu-stack')) {
      const stacks = euStack(t.pid);
      for (const [tid, frames] of stacks) {
        const exp = tid === t.pid ? EXPECTED_STACKS.main : expectedWorkerStack(20, 'spin');
        expect(matchFrames(frames, exp), names.get(tid)).toBeNull();
      }
    }
  });

  it('--worker-leaf sleep and --only combine', async () => {
    const t = await startFixture('threads', variant, [
      '--workers',
      '3',
      '--depth',
      '5',
      '--worker-leaf',
      'sleep',
      '--only',
      'sleeper',
    ]);
    const names = threadNames(t.pid);
    expect([...names.values()].sort()).toEqual(['sleeper', 'threads', 'worker-0', 'worker-1', 'worker-2']);
    for (const [, s] of threadStates(t.pid)) expect(s).toBe('S');
    if (have('eu-stack')) {
      const stacks = euStack(t.pid);
      for (const [tid, frames] of stacks) {
        const name = tid === t.pid ? 'main' : names.get(tid)!;
        const exp = name.startsWith('worker-') ? expectedWorkerStack(5, 'sleep') : EXPECTED_STACKS[name];
        expect(matchFrames(frames, exp), name).toBeNull();
      }
    }
  });
});

// ------------------------------------------------------------------------------------------
describe('other fixtures', () => {
  it('threads rejects a bad command line (exit 2) and startTarget reports it', async () => {
    const bin = compileFixture('threads', 'fp');
    await expect(startTarget(bin, ['--only', 'bogus'], { timeoutMs: 5000 })).rejects.toThrow(/usage: threads/);
    expect(liveTargetCount()).toBe(0);
  });

  it('idle: one thread blocked in sigsuspend', async () => {
    const t = await startFixture('idle', 'nofp');
    expect(threadIds(t.pid)).toEqual([t.pid]);
    expect(threadStates(t.pid).get(t.pid)).toBe('S');
    process.kill(t.pid, 'SIGUSR1');
    expect(await t.waitForLine(/^usr1=\d+$/)).toBe('usr1=1');
    if (have('eu-stack')) expect(matchFrames(euStack(t.pid).get(t.pid)!, EXPECTED_IDLE_STACK)).toBeNull();
  });

  it('exits: threads come and go continuously; steady stays', async () => {
    const t = await startFixture('exits', 'fp');
    const steady = findThreadByName(t.pid, 'steady');
    expect(t.stdout).toContain(`thread steady ${steady}`);
    // Conditions, not rates: a loaded machine may run the fixture slowly, but it must go on
    // creating threads while steady stays parked.
    const seen = new Set<number>();
    const until = Date.now() + 30_000;
    while (seen.size <= 10 && Date.now() < until) {
      for (const tid of threadIds(t.pid)) seen.add(tid);
      await sleep(2);
    }
    expect(seen.size).toBeGreaterThan(10); // many short-lived tids went by
    const created = async (): Promise<number> => {
      process.kill(t.pid, 'SIGUSR1');
      return Number((await t.waitForLine(/^created=\d+$/)).split('=')[1]);
    };
    const a = await created();
    let b = a;
    while (b - a <= 100 && Date.now() < until) {
      await sleep(20);
      b = await created();
    }
    expect(b - a).toBeGreaterThan(100);
    expect(await waitForState(t.pid, steady, 'S')).toBe('S');
    if (have('eu-stack')) {
      // eu-stack may lose a race with a thread exiting; the steady thread must be complete.
      const r = spawnSync('eu-stack', ['-p', String(t.pid)], { encoding: 'utf8' });
      const block = r.stdout.split(/^TID /m).find((b) => b.startsWith(`${steady}:`));
      expect(block).toBeDefined();
      const frames = [...block!.matchAll(/^#\d+\s+0x[0-9a-f]+\s+(\S+)/gm)].map((m) => m[1]);
      expect(matchFrames(frames, EXPECTED_STEADY_STACK)).toBeNull();
    }
  });

  it('exits --exit-after: the process ends by itself and exited reports it', async () => {
    const t = await startFixture('exits', 'nofp', ['--exit-after', '100', '--no-steady']);
    expect(await t.exited).toBe(0);
    expect(t.running).toBe(false);
    expect(await waitGone(t.pid)).toBe(true);
    await expect(t.waitForLine(/never/, 5000)).rejects.toThrow(/exited|closed/);
    await t.stop(); // harmless after exit
  });
});

// ------------------------------------------------------------------------------------------
describe('launcher', () => {
  it('startNode runs a real node as a grandchild', async () => {
    const t = await startNode("process.stdout.write('hello\\nready\\n'); setInterval(() => {}, 1000);");
    expect(parentPid(t.pid)).toBe(t.intermediatePid);
    expect(fs.readFileSync(`/proc/${t.pid}/comm`, 'utf8').trim()).toBe('node');
    expect(fs.realpathSync(`/proc/${t.pid}/exe`)).toBe(fs.realpathSync(process.execPath));
    expect(t.stdout).toBe('hello\nready\n');
    expect(threadIds(t.pid).length).toBeGreaterThan(4); // main + libuv pool/V8 platform threads
    await t.stop();
    expect(fs.existsSync(`/proc/${t.pid}`)).toBe(false);
  });

  it('startNode passes node options (perf map appears)', async () => {
    const t = await startNode("console.log('ready'); setInterval(() => {}, 1000);", ['--perf-basic-prof']);
    expect(fs.existsSync(`/tmp/perf-${t.pid}.map`)).toBe(true);
    await t.stop();
    fs.rmSync(`/tmp/perf-${t.pid}.map`, { force: true });
  });

  it('startPython runs a real python3 as a grandchild', async () => {
    const t = await startPython("import time\nprint('ready')\nwhile True: time.sleep(1)");
    expect(parentPid(t.pid)).toBe(t.intermediatePid);
    expect(fs.readFileSync(`/proc/${t.pid}/comm`, 'utf8').trim()).toMatch(/^python3/);
    expect(threadStates(t.pid).get(t.pid)).toMatch(/[SR]/);
    await t.stop();
    expect(fs.existsSync(`/proc/${t.pid}`)).toBe(false);
  });

  it('custom ready regexp, env, waitForLine consumes lines in order', async () => {
    const t = await startTarget('/bin/sh', ['-c', 'echo "a=$FOO"; echo go; exec sleep 100'], {
      ready: /^go$/,
      env: { ...process.env, FOO: 'bar' },
    });
    expect(t.stdout).toBe('a=bar\ngo\n');
    await expect(t.waitForLine(/^a=/, 200)).rejects.toThrow(/timed out/); // consumed by the ready wait
    await t.stop();
  });

  it('a target that exits before ready makes startTarget reject with its output', async () => {
    await expect(startTarget('/bin/sh', ['-c', 'echo oops >&2; exit 3'], { timeoutMs: 5000 })).rejects.toThrow(/oops/);
    await expect(startTarget('/nonexistent/binary', [], { timeoutMs: 5000 })).rejects.toThrow(/nonexistent/);
    expect(liveTargetCount()).toBe(0);
  });

  it('readiness timeout stops the target', async () => {
    const bin = compileFixture('idle', 'fp');
    let err: Error | undefined;
    try {
      await startTarget(bin, [], { ready: /^never$/, timeoutMs: 300 });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).toMatch(/timed out/);
    const pid = Number(/\(pid (\d+)\)/.exec(err!.message)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(fs.existsSync(`/proc/${pid}`)).toBe(false);
    expect(liveTargetCount()).toBe(0);
  });

  it('stop() is idempotent and stopAllTargets() stops everything', async () => {
    const a = await startFixture('idle', 'fp');
    const b = await startFixture('idle', 'nofp');
    expect(liveTargetCount()).toBe(2);
    await Promise.all([a.stop(), a.stop()]);
    await a.stop();
    expect(liveTargetCount()).toBe(1);
    await stopAllTargets();
    expect(liveTargetCount()).toBe(0);
    for (const t of [a, b]) {
      expect(fs.existsSync(`/proc/${t.pid}`)).toBe(false);
      expect(fs.existsSync(`/proc/${t.intermediatePid}`)).toBe(false);
    }
  });

  it('lifeline: when the test process goes away (stdin EOF), the target is killed and reaped', async () => {
    const bin = compileFixture('idle', 'fp');
    const sh = spawn('sh', ['-c', INTERMEDIATE_SCRIPT, bin], { stdio: ['pipe', 'pipe', 'ignore', 'pipe'] });
    let ctl = '';
    const ctlStream = sh.stdio[3] as NodeJS.ReadableStream;
    ctlStream.setEncoding('utf8');
    ctlStream.on('data', (d: string) => (ctl += d));
    let out = '';
    sh.stdout!.on('data', (d: Buffer) => (out += d));
    const closed = new Promise<number | null>((r) => sh.on('close', (code) => r(code)));
    // ready comes on stdout, the pids on another pipe: wait for all three (a busy machine
    // delivers them at different moments).
    const deadline = Date.now() + 30_000;
    const started = () => /^ready$/m.test(out) && /^pid=\d+$/m.test(ctl) && /^watcher=\d+$/m.test(ctl);
    while (!started() && Date.now() < deadline) await sleep(5);
    const pid = Number(/^pid=(\d+)$/m.exec(ctl)?.[1]);
    const watcher = Number(/^watcher=(\d+)$/m.exec(ctl)?.[1]);
    expect(isAlive(pid)).toBe(true);
    expect(isAlive(watcher)).toBe(true);
    sh.stdin!.end(); // what the kernel does to the pipe when the test process dies
    expect(await closed).toBe(0);
    expect(ctl).toMatch(/^exit=137$/m);
    for (const p of [pid, watcher, sh.pid!]) expect(fs.existsSync(`/proc/${p}`)).toBe(false);
  });

  it('assertNoThreadStopped sees a job-control stop', async () => {
    const t: Target = await startFixture('threads', 'fp', ['--only', 'sleeper']);
    process.kill(t.pid, 'SIGSTOP');
    const deadline = Date.now() + 2000;
    while (![...threadStates(t.pid).values()].every((s) => s === 'T') && Date.now() < deadline) await sleep(2);
    expect(() => assertNoThreadStopped(t.pid)).toThrow(/2 thread\(s\) stopped: .*state T/);
    process.kill(t.pid, 'SIGCONT');
    assertNoThreadStopped(t.pid, 1000);
    await t.stop();
  });
});
