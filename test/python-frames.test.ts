// Python frames named from the interpreter's memory, without any flag: a real python3 whose
// threads block in time.sleep, Lock.acquire and socket.recv, and one busy in pure Python.
// Each thread writes traceback.format_stack() just before it blocks (the oracle): stackshot's
// Python frames for that thread must be those, in order, each run right before the native
// _PyEval_EvalFrameDefault frame that executes it.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { audit } from '../src/audit/audit';
import { doctor } from '../src/doctor';
import { probePythonFrames } from '../src/runtimes/cpython/probe';
import { snapshotSync } from '../src/snapshot';
import { EVAL_FRAME } from '../src/symbolize/resolvers/cpython';
import type { Frame, Snapshot } from '../src/types';
import { formatThreadText } from '../src/output/text';
import { toFolded } from '../src/output/folded';
import { decodePprof, toPprof } from '../src/output/pprof';
import { toSpeedscope } from '../src/output/speedscope';
import { assertNoThreadStopped } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';

afterAll(stopAllTargets);

/** A pyenv-installed python3.<minor> (a shared libpython build, unlike Debian's), or why not. */
function pyenvPython(minor: number): { exe: string } | { missing: string } {
  const root = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  let versions: string[];
  try {
    versions = fs.readdirSync(path.join(root, 'versions')).filter((v) => v.startsWith(`3.${minor}.`));
  } catch {
    return { missing: `no pyenv at ${root}` };
  }
  const exes = versions.map((v) => path.join(root, 'versions', v, 'bin', `python3.${minor}`));
  const found = exes.filter((c) => fs.existsSync(c));
  return found.length > 0 ? { exe: found[found.length - 1]! } : { missing: `pyenv at ${root} has no python3.${minor}` };
}

const WORKLOAD = String.raw`
import os, socket, sys, threading, time, traceback
OUT = sys.argv[1]

def record(name):
    tmp = os.path.join(OUT, name + '.tmp')
    with open(tmp, 'w') as f:
        f.write('%d\n' % threading.get_native_id())
        f.write(''.join(traceback.format_stack()[:-1]))
    os.rename(tmp, os.path.join(OUT, name + '.stack'))

def sleeper_leaf():
    record('sleep') or time.sleep(1000)
def sleeper():
    sleeper_leaf()

lock = threading.Lock()
lock.acquire()
class Locker:
    def wait(self):
        record('lock') or lock.acquire()

a, b = socket.socketpair()
def receiver():
    (lambda: record('recv') or a.recv(1))()

def spin_forever(n):
    while True: n = (n * 7 + 1) % 1000003
def busy():
    record('busy') or spin_forever(1)

for target in (sleeper, Locker().wait, receiver, busy):
    threading.Thread(target=target, daemon=True).start()
main_lock = threading.Lock()
main_lock.acquire()
print('ready', flush=True)
record('main') or main_lock.acquire()
`;
/** The line of `while True:` in spin_forever (1-based, as the script is written to disk). */
const SPIN_LINE = WORKLOAD.split('\n').findIndex((l) => l.startsWith('    while True:')) + 1;

/** The innermost native frame each blocked thread must show below its Python frames. */
const BLOCKED_IN: Record<string, RegExp> = {
  sleep: /^(clock_nanosleep|__clock_nanosleep|__GI___clock_nanosleep)/,
  lock: /(futex|sem_clockwait|sem_timedwait|do_futex_wait)/,
  recv: /^(recv|__libc_recv|__recv)/,
  main: /(futex|sem_clockwait|sem_timedwait|do_futex_wait)/,
};

interface Expected {
  tid: number;
  /** Outermost first, as traceback prints them. */
  frames: { file: string; line: number; name: string }[];
}

function readRecord(file: string): Expected {
  const [tid, ...rest] = fs.readFileSync(file, 'utf8').split('\n');
  const lines = rest.join('\n').matchAll(/^ {2}File "(.*)", line (\d+), in (.*)$/gm);
  const frames = [...lines].map((m) => ({ file: m[1]!, line: Number(m[2]), name: m[3]! }));
  return { tid: Number(tid), frames };
}

/** traceback names a frame by co_name; stackshot by co_qualname (K.meth for meth). */
function sameFunction(qualname: string | null, name: string): boolean {
  return qualname === name || (qualname?.endsWith(`.${name}`) ?? false);
}

/** Why the thread's frames do not match (null when they do). */
function mismatch(
  frames: Frame[],
  expected: Expected,
  extraInner: { name: string; line: number }[],
  blockedIn?: RegExp,
): string | null {
  const py = frames.filter((f) => f.kind === 'python');
  const want = [...extraInner.map((e) => ({ ...e, file: '' })), ...[...expected.frames].reverse()];
  if (py.length !== want.length) return `${py.length} Python frames, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    const f = py[i]!;
    const w = want[i]!;
    if (!sameFunction(f.symbol, w.name) || f.line !== w.line || (w.file !== '' && f.file !== w.file)) {
      return `Python frame ${i}: ${f.symbol} ${f.file}:${f.line}, expected ${w.name} ${w.file}:${w.line}`;
    }
  }
  // Interleaving: every run of Python frames is followed by the eval frame that runs it.
  for (let i = 0; i < frames.length; i++) {
    if (frames[i]!.kind === 'python' && frames[i + 1]?.kind !== 'python' && frames[i + 1]?.symbol !== EVAL_FRAME) {
      return `Python frame #${i} is not followed by ${EVAL_FRAME} but by ${frames[i + 1]?.symbol}`;
    }
  }
  if (frames.some((f) => f.symbol === EVAL_FRAME && f.symbolReason !== undefined)) return 'an eval frame has a reason';
  const below = frames.slice(
    0,
    frames.findIndex((f) => f.kind === 'python'),
  );
  if (blockedIn !== undefined && !below.some((f) => blockedIn.test(f.symbol ?? ''))) {
    return `no native frame matching ${blockedIn} below the Python frames`;
  }
  return null;
}

async function checkInterpreter(exe: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-py-'));
  try {
    const script = path.join(dir, 'job.py');
    fs.writeFileSync(script, WORKLOAD);
    const t = await startTarget(exe, ['-u', script, dir]);
    const names = ['sleep', 'lock', 'recv', 'busy', 'main'];
    const expected = new Map<string, Expected>();
    // Wait for every thread's record (written just before it blocks).
    for (let i = 0; i < 500 && expected.size < names.length; i++) {
      for (const n of names) {
        const file = path.join(dir, `${n}.stack`);
        if (!expected.has(n) && fs.existsSync(file)) expected.set(n, readRecord(file));
      }
      if (expected.size < names.length) await new Promise((r) => setTimeout(r, 20));
    }
    expect([...expected.keys()].sort()).toEqual([...names].sort());
    // A thread that wrote its record may not be in its wait yet (it may be waiting for the
    // GIL): snapshot until every thread is where it said it would be, a bounded number of times.
    let last: { snap: Snapshot; why: string[] } | undefined;
    for (let attempt = 0; attempt < 100; attempt++) {
      const snap = snapshotSync(t.pid);
      const why: string[] = [];
      for (const [n, e] of expected) {
        const th = snap.threads.find((x) => x.tid === e.tid);
        const extra = n === 'busy' ? [{ name: 'spin_forever', line: SPIN_LINE }] : [];
        let m: string | null;
        if (th === undefined) m = 'thread missing';
        else if (!th.complete) m = `incomplete (${th.end})`;
        else m = mismatch(th.frames, e, extra, BLOCKED_IN[n]);
        if (m !== null) why.push(`${n}: ${m}\n${th === undefined ? '' : formatThreadText(th)}`);
      }
      last = { snap, why };
      if (why.length === 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(last!.why).toEqual([]);
    assertNoThreadStopped(t.pid);
    // The text output reads as the brief says: `name  (Python, file:line)`.
    const sleeper = last!.snap.threads.find((x) => x.tid === expected.get('sleep')!.tid)!;
    const escaped = script.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    expect(formatThreadText(sleeper)).toMatch(new RegExp(`sleeper_leaf {2}\\(Python, ${escaped}:\\d+\\)`));
    checkProfiles(last!.snap, script);
    await t.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The profile formats show the Python frames, root first, with their files and lines. */
function checkProfiles(snap: Snapshot, script: string): void {
  expect(toFolded(snap)).toMatch(/;sleeper;sleeper_leaf;[^ ]*clock_nanosleep/);
  const speedscope = toSpeedscope(snap);
  expect(speedscope.shared.frames).toContainEqual(expect.objectContaining({ name: 'sleeper_leaf', file: script }));
  const profile = decodePprof(toPprof(snap));
  const strings = profile.stringTable.strings;
  const fn = profile.function.find((f) => strings[Number(f.name)] === 'sleeper_leaf');
  expect(fn && strings[Number(fn.filename)]).toBe(script);
}

describe('Python frames, named from the interpreter (no flags)', () => {
  const debian = fs.existsSync('/usr/bin/python3.11')
    ? { exe: '/usr/bin/python3.11' }
    : { missing: "Debian's /usr/bin/python3.11 is not installed" };
  const debianWhich = 'missing' in debian ? debian.missing : debian.exe;
  it.skipIf('missing' in debian)(`Debian's python3.11: ${debianWhich}`, async () => {
    await checkInterpreter((debian as { exe: string }).exe);
  });
  for (const minor of [11, 12, 13]) {
    const py = pyenvPython(minor);
    const which = 'missing' in py ? py.missing : py.exe;
    it.skipIf('missing' in py)(`python3.${minor} with a shared libpython: ${which}`, async () => {
      await checkInterpreter((py as { exe: string }).exe);
    });
  }
});

describe('Python runtime readability (doctor, audit)', () => {
  const debian = '/usr/bin/python3.11';
  it.skipIf(!fs.existsSync(debian))('doctor and audit: python3.11 frames readable, and which version', async () => {
    const code = "import threading; print('ready', flush=True); threading.Event().wait()";
    const t = await startTarget(debian, ['-u', '-c', code], { mainBlocked: true });
    const probe = probePythonFrames(t.pid);
    const asked = ['-c', 'import platform; print(platform.python_version())'];
    const version = execFileSync(debian, asked, { encoding: 'utf8' }).trim();
    const layout = '3.11';
    expect(probe).toEqual({ readable: true, module: debian, version, versionSource: 'Py_Version', layout, threads: 1 });
    const report = doctor(t.pid);
    const check = report.checks.find((c) => c.id === 'python');
    expect(check).toMatchObject({ status: 'ok', detail: expect.stringContaining(`Python ${version}`) });
    const a = await audit(t.pid, { runInterpreter: false });
    expect(a.runtimes.python?.frames).toEqual(probe);
    await t.stop();
  });

  // A version without a layout is named as such, never read with another version's layout.
  const old = pyenvPython(10);
  const which = 'missing' in old ? old.missing : old.exe;
  it.skipIf('missing' in old)(`unsupported version (3.10) reported, eval frames keep names: ${which}`, async () => {
    const code = "import time\ndef f(): print('ready', flush=True); time.sleep(1000)\nf()";
    const t = await startTarget((old as { exe: string }).exe, ['-u', '-c', code], { mainBlocked: true });
    const reason = 'python-version-unsupported';
    const probe = probePythonFrames(t.pid);
    expect(probe).toMatchObject({ readable: false, version: '3.10', versionSource: 'file-name', reason });
    const frames = snapshotSync(t.pid).threads.flatMap((th) => th.frames);
    expect(frames.some((f) => f.kind === 'python')).toBe(false);
    const evals = frames.filter((f) => f.symbol === EVAL_FRAME);
    expect(evals.length).toBeGreaterThan(0);
    for (const f of evals) expect(f.symbolReason).toBe('python-version-unsupported');
    expect(doctor(t.pid).checks.find((c) => c.id === 'python')).toMatchObject({ status: 'warn' });
    await t.stop();
  });
});

describe('Python frames the target controls', () => {
  // Code objects doctored by the program itself: names that are not text, a location table
  // that is not one, a co_qualname pointer to an int. Each must give no name (with a reason),
  // no line, or the fallback co_name: never a garbage name, never a crash.
  const HOSTILE = String.raw`
import ctypes, threading, time
def block(): time.sleep(1000)
def make(name, **changes):
    def f(): block()
    f.__code__ = f.__code__.replace(**changes)
    threading.Thread(target=f, name=name, daemon=True).start()
make('surrogate', co_name='bad\udc80', co_qualname='bad\udc80')
make('control', co_name='a\nb', co_qualname='a\x1bb')
make('linetable', co_name='noline', co_qualname='noline', co_linetable=b'\x01\x02\x03')
make('filename', co_name='nofile', co_qualname='nofile', co_filename='/tmp/\udcff.py')
def pointer():
    block()
code = pointer.__code__.replace(co_name='fallback', co_qualname='q' * 5)
ctypes.c_void_p.from_address(id(code) + 128).value = id(123456789)  # co_qualname: an int
pointer.__code__ = code
threading.Thread(target=pointer, daemon=True).start()
time.sleep(0.2)
print('ready', flush=True)
block()
`;
  const exe = '/usr/bin/python3.11';
  it.skipIf(!fs.existsSync(exe))('doctored code objects: no garbage, a reason where there is no name', async () => {
    const t = await startTarget(exe, ['-u', '-c', HOSTILE], { mainBlocked: true });
    const snap = snapshotSync(t.pid);
    const pythonFrames = snap.threads.map((th) => th.frames.filter((f) => f.kind === 'python'));
    const inner = pythonFrames.filter((py) => py[0]?.symbol === 'block').map((py) => py[1]!);
    expect(inner).toHaveLength(6); // five threads and main
    const invalid = inner.filter((f) => f.symbol === null);
    expect(invalid).toHaveLength(2); // the surrogate and control-character names
    for (const f of invalid) expect(f.symbolReason).toBe('python-code-invalid');
    const noline = inner.find((f) => f.symbol === 'noline');
    expect(noline?.line).toBeUndefined();
    expect(noline?.file).toBe('<string>');
    const nofile = inner.find((f) => f.symbol === 'nofile');
    expect(nofile?.file).toBeUndefined();
    expect(nofile?.line).toBeGreaterThan(0);
    expect(inner.find((f) => f.symbol === 'fallback')).toBeDefined();
    expect(inner.find((f) => f.symbol === '<module>')).toBeDefined();
    assertNoThreadStopped(t.pid);
    await t.stop();
  });
});
