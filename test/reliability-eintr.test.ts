// Signals (see also test/signals.test.ts: 1,000 snapshots lose no real-time signal;
// test/snapshot.test.ts: a stopped process stays stopped). Threads parked in read, poll, nanosleep (long and short) and futex (with
// and without timeout), with no signal handler installed, must never see EINTR because of a
// snapshot: PTRACE_INTERRUPT + DETACH has to restart those calls transparently. The fixture
// (rel_eintr --strict) exits with status 80+k at the first EINTR from call k.
//
// By default a thread blocked in a system call is not stopped at all (capture
// 'blocked'), so even the calls a stop does disturb -- epoll_wait, sigwaitinfo, semop, a large
// pipe write, recv(MSG_WAITALL) -- see nothing: 0 EINTR, 0 short transfers, 0 context switches
// of those threads, and stacks equal to eu-stack's address for address.
//
// epoll_wait is the exception, by kernel design: ep_poll() returns -EINTR (not an ERESTART
// code) whenever a signal or a ptrace/job-control stop interrupts it, handler or not
// (man 7 signal, "Interruption of system calls ... by stop signals"). Every snapshot that
// stops a thread in epoll_wait therefore makes it return EINTR, exactly as gdb and strace
// do. Event loops (libuv, etc.) retry; this test only pins the behaviour down.
//
// Scale: 3,000 snapshots in CI (~3-10 s); STACKSHOT_RELIABILITY_FULL=1 runs the 10,000.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';

import { snapshot, snapshotSync, type Snapshot } from '../src/index';
import { compileFixture } from './helpers/fixtures';
import { assertDetached, findThreadByName, statusField, threadNames, threadStates } from './helpers/proc';
import { euStackPcs, HAVE_EU_STACK } from './helpers/stack-oracles';
import { startFixture, startTarget, stopAllTargets } from './helpers/target';

const SNAPSHOTS = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 10_000 : 3_000;
const CALLS = [
  'read',
  'epoll_wait',
  'epoll_wait_t',
  'nanosleep',
  'nanosleep_short',
  'futex',
  'futex_t',
  'poll',
  'sigwaitinfo',
  'semop',
  'pipe_write',
  'recv_waitall',
  'nanosleep_tiny',
];
/** Threads that never wake by themselves (and main, in pthread_join): a stop is all that can move them. */
const PARKED = [
  'read',
  'epoll_wait',
  'nanosleep',
  'futex',
  'poll',
  'sigwaitinfo',
  'semop',
  'pipe_write',
  'recv_waitall',
  'rel_eintr',
];

afterEach(async () => {
  await stopAllTargets();
});

function counters(file: string): Record<string, number> {
  const b = fs.readFileSync(file);
  const out: Record<string, number> = { iterations: Number(b.readBigUInt64LE(0)) };
  CALLS.forEach((c, k) => (out[c] = Number(b.readBigUInt64LE(8 * (1 + k)))));
  return out;
}

it(`${SNAPSHOTS} ptrace snapshots never make read, poll, nanosleep or futex return EINTR`, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-eintr-'));
  const file = path.join(dir, 'counters');
  try {
    const target = await startTarget(compileFixture('rel_eintr', 'nofp'), [file, '--strict']);
    for (let i = 0; i < SNAPSHOTS; i++) {
      const schedule = i % 4 === 3 ? 'consistent' : 'rolling';
      const options = { schedule, symbolize: false, capture: 'ptrace' } as const;
      const shot = i % 2 ? snapshotSync(target.pid, options) : await snapshot(target.pid, options);
      expect(shot.threads.filter((t) => t.failure !== undefined)).toEqual([]);
      if (!target.running) break;
    }
    // A strict-mode EINTR ends the process with 80 + the call's index.
    const status = target.running ? 'running' : await target.exited;
    const c = counters(file);
    expect(status, `target exited: ${target.stderr}`).toBe('running');
    expect({
      read: c.read,
      nanosleep: c.nanosleep,
      nanosleep_short: c.nanosleep_short,
      futex: c.futex,
      futex_t: c.futex_t,
      poll: c.poll,
    }).toEqual({
      read: 0,
      nanosleep: 0,
      nanosleep_short: 0,
      futex: 0,
      futex_t: 0,
      poll: 0,
    });
    // The documented exception: one EINTR per stop of a thread in epoll_wait.
    expect(c.epoll_wait).toBeGreaterThan(SNAPSHOTS / 2);
    expect(c.epoll_wait).toBeLessThanOrEqual(SNAPSHOTS);
    assertDetached(target.pid, 200);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

const BLOCKED_SNAPSHOTS = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 10_000 : 1_000;

/** Voluntary + involuntary context switches of each thread: a thread that stays asleep has none. */
function contextSwitches(pid: number, tids: number[]): Map<number, number> {
  const sum = (tid: number) =>
    Number(statusField(pid, 'voluntary_ctxt_switches', tid)) +
    Number(statusField(pid, 'nonvoluntary_ctxt_switches', tid));
  return new Map(tids.map((tid) => [tid, sum(tid)]));
}

/** The parked threads' switch counts once two readings 100 ms apart agree (at most 10 s). */
async function settledSwitches(pid: number, tids: number[]): Promise<Map<number, number>> {
  let last = contextSwitches(pid, tids);
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = contextSwitches(pid, tids);
    if (JSON.stringify([...now]) === JSON.stringify([...last])) return now;
    last = now;
  }
  return last;
}

// Built without and with frame pointers: with them, each wrapper's caller finds its CFA from
// %rbp, which the blocked capture recovers from the caller's prologue (unwinder.cc).
it.each(['nofp', 'fp'] as const)(
  `${BLOCKED_SNAPSHOTS} snapshots disturb no blocked call (%s): no stop, no EINTR, no short transfer`,
  async (variant) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-eintr-'));
    const file = path.join(dir, 'counters');
    try {
      // Without the ASan run's preloaded runtime: its interceptors keep frame pointers (their
      // callers' walks would need %rbp, and those threads would be stopped).
      const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD'));
      const target = await startTarget(compileFixture('rel_eintr', variant), [file, '--strict'], { env });
      const names = threadNames(target.pid);
      const parked = [...names].filter(([, name]) => PARKED.includes(name)).map(([tid]) => tid);
      expect(parked).toHaveLength(PARKED.length);
      // Measured once the parked threads are settled in their calls (a thread that printed its
      // readiness may still be on its way into the call).
      const switchesBefore = await settledSwitches(target.pid, parked);
      const shots: Snapshot[] = [];
      let epollTimedStops = 0;
      for (let i = 0; i < BLOCKED_SNAPSHOTS; i++) {
        const shot =
          i % 2 ? snapshotSync(target.pid, { symbolize: false }) : await snapshot(target.pid, { symbolize: false });
        expect(shot.threads.filter((t) => t.failure !== undefined)).toEqual([]);
        for (const t of shot.threads) {
          if (parked.includes(t.tid)) expect(t, `snapshot ${i}`).toMatchObject({ capture: 'blocked', pauseNs: 0 });
          if (names.get(t.tid) === 'epoll_wait_t' && t.capture === 'ptrace') epollTimedStops++;
        }
        if (i % 50 === 0) shots.push(shot);
        if (!target.running) break;
      }
      const switchesAfter = contextSwitches(target.pid, parked);
      const status = target.running ? 'running' : await target.exited;
      const c = counters(file);
      expect(status, `target exited: ${target.stderr}`).toBe('running');
      // The kernel's witness: the parked threads never left their calls.
      expect(switchesAfter).toEqual(switchesBefore);
      const disturbed = Object.fromEntries(CALLS.filter((k) => k !== 'epoll_wait_t').map((k) => [k, c[k]]));
      expect(disturbed).toEqual(Object.fromEntries(CALLS.filter((k) => k !== 'epoll_wait_t').map((k) => [k, 0])));
      // epoll_wait with a 3 ms timeout wakes by itself: when a snapshot finds it awake it is stopped
      // (capture 'ptrace'), and a stop just as it re-enters epoll_wait makes it return EINTR.
      expect(c.epoll_wait_t).toBeLessThanOrEqual(epollTimedStops);
      // Address for address what eu-stack sees (it stops the threads: only after the counts).
      if (HAVE_EU_STACK) {
        const oracle = euStackPcs(target.pid);
        for (const shot of shots) {
          for (const t of shot.threads.filter((x) => parked.includes(x.tid))) {
            expect(
              t.frames.map((f) => f.pc),
              `thread ${names.get(t.tid)}`,
            ).toEqual(oracle.get(t.tid));
          }
        }
      }
      assertDetached(target.pid, 200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  120_000,
);

// Job control racing the snapshots: SIGSTOP and SIGCONT sent while captures run (some land
// while a thread is in our ptrace stop). A stopped process must end up stopped (every thread
// T) and a continued one running: the group stop is neither lost nor left behind by a detach.
it('SIGSTOP and SIGCONT racing snapshots are never lost', async () => {
  const target = await startFixture('threads', 'fp');
  const spin = findThreadByName(target.pid, 'spin');
  const until = async (what: string, ok: () => boolean) => {
    const deadline = Date.now() + 2000;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`${what}: ${JSON.stringify([...threadStates(target.pid)])}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  };
  const ROUNDS = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 200 : 30;
  for (let round = 0; round < ROUNDS; round++) {
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const shot = await snapshot(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling', symbolize: false });
        expect(shot.threads.filter((t) => t.failure !== undefined)).toEqual([]);
      }
    })();
    await new Promise((r) => setTimeout(r, round % 7));
    process.kill(target.pid, 'SIGSTOP');
    await new Promise((r) => setTimeout(r, 5 + (round % 5)));
    running = false;
    await loop;
    await until(`round ${round}: not every thread stopped after SIGSTOP`, () =>
      [...threadStates(target.pid).values()].every((s) => s === 'T'),
    );
    running = true;
    const loop2 = (async () => {
      for (let i = 0; running; i++)
        await snapshot(target.pid, { schedule: i % 2 ? 'rolling' : 'consistent', symbolize: false });
    })();
    await new Promise((r) => setTimeout(r, round % 5));
    process.kill(target.pid, 'SIGCONT');
    await new Promise((r) => setTimeout(r, 5));
    running = false;
    await loop2;
    await until(`round ${round}: a thread still stopped after SIGCONT`, () => {
      const states = threadStates(target.pid);
      return ![...states.values()].some((s) => s === 'T' || s === 't') && states.get(spin) === 'R';
    });
  }
  assertDetached(target.pid, 200);
  expect(target.running).toBe(true);
}, 120_000);
