// `stackshot bench <pid>` and benchmark(pid): on the bench fixture (bench/target.c), an idle and
// a busy node, and Debian's python3.11, every figure is present and sane (no timing
// thresholds: the machine is shared). The kernel's own counters are the oracle for the stops
// (a stopped thread is switched out at least once). --compare names the references missing
// from PATH; a target exiting mid-run gives partial results; --json follows its schema.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { afterEach, describe, expect, it } from 'vitest';

import { benchmark } from '../src/benchmark/benchmark';
import type { BenchmarkReport, BenchPlan } from '../src/benchmark/types';
import { startNode, startTarget, stopAllTargets } from './helpers/target';
import { isAlive } from './helpers/proc';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const benchTargets = require('../bench/target.js') as {
  startCTarget(o: { workers: number; depth: number }): Promise<{ pid: number; stop(): void }>;
};

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const DEBIAN_PYTHON = '/usr/bin/python3.11';
const HAVE_DEBIAN_PYTHON = fs.existsSync(DEBIAN_PYTHON);
const HAVE_GCC = fs.existsSync('/usr/bin/gcc');
const HAVE_EU_STACK = fs.existsSync('/usr/bin/eu-stack');
const IS_ROOT = process.getuid?.() === 0;

afterEach(async () => {
  await stopAllTargets();
});

const IDLE_NODE = 'setInterval(() => {}, 1000); console.log("ready");';
// A worker spinning in JavaScript and a main thread that spins too (after saying ready).
const BUSY_NODE = `
const { Worker } = require('node:worker_threads');
new Worker('let x = 0; for (;;) { x = (x + Math.sqrt(x + 1)) % 1e9; }', { eval: true });
console.log('ready');
function spin() { let x = 0; for (let i = 0; i < 1e7; i++) x += Math.sqrt(i); return x; }
for (;;) spin();
`;
/** Threads sleeping and summing (the bench's Python target too). */
const PYTHON_SCRIPT = path.join(__dirname, 'fixtures', 'py_threads.py');

/** Every figure present and consistent with the others (values, never timings, compared). */
function expectSane(r: BenchmarkReport, rounds: number): void {
  expect(r.version).toBe(1);
  expect(r.partial).toBeUndefined();
  expect(r.rounds).toBe(rounds);
  expect(r.plan.maxStops).toBe(rounds * r.plan.threads * 3);
  expect(r.stops).toBeGreaterThan(0);
  expect(r.stops).toBeLessThanOrEqual(r.plan.maxStops);

  const [fp, hybrid] = r.methods;
  expect([fp!.method, hybrid!.method]).toEqual(['fp', 'hybrid']);
  expect(hybrid!.stacks).toBeGreaterThan(0);
  expect(fp!.stacks).toBe(hybrid!.stacks); // the same captures, walked twice
  expect(hybrid!.complete).toBeGreaterThanOrEqual(fp!.complete);
  expect(hybrid!.frames.median!).toBeGreaterThanOrEqual(fp!.frames.median!);
  for (const m of r.methods) {
    expect(m.walkNsPerFrame.median!).toBeGreaterThan(0);
    expect(m.walkNsPerStack.median!).toBeGreaterThan(0);
    expect(m.kinds.reduce((n, k) => n + k.stacks, 0)).toBe(m.stacks);
    expect(Object.values(m.ends).reduce((a, b) => a + b, 0)).toBe(m.stacks - m.complete);
    // Each kind walked in a call of its own, once per capture it was in.
    for (const k of m.kinds) {
      expect(k.walkNsPerFrame.n).toBeGreaterThanOrEqual(1);
      expect(k.walkNsPerFrame.n).toBeLessThanOrEqual(rounds);
      expect(k.walkNsPerStack.n).toBe(k.walkNsPerFrame.n);
      expect(k.walkNsPerFrame.median!).toBeGreaterThan(0);
      // A call's time over its stacks is at least its time over its frames (a stack has ≥ 1 frame).
      expect(k.walkNsPerStack.median!).toBeGreaterThanOrEqual(k.walkNsPerFrame.median!);
    }
  }
  expect(hybrid!.kinds.map((k) => k.kind)).toContain('main');
  // fp's incomplete stacks are exactly the ones it lost.
  expect(r.fpLoss.lost).toBe(fp!.stacks - fp!.complete);
  expect(r.fpLoss.breakers.reduce((n, b) => n + b.stacks, 0)).toBe(r.fpLoss.lost);

  expect(r.paths.map((p) => p.path)).toEqual(['ptrace-rolling', 'ptrace-consistent', 'stop-free']);
  for (const p of r.paths) {
    expect(p.captures).toBe(rounds);
    expect(p.bytesCopied.median!).toBeGreaterThan(0);
    expect(p.captureNs.median!).toBeGreaterThan(0);
    expect(p.kernel.contextSwitches.n).toBeGreaterThan(0);
    expect(p.kernel.runDelayNs.median!).toBeGreaterThanOrEqual(0);
    expect(p.pauses.length).toBe(p.pauseNs.n);
    const served = Object.values(p.served).reduce((a, b) => a + b, 0);
    expect(served).toBe(p.pauseNs.n + p.notStopped);
  }
  for (const p of r.paths.filter((x) => x.path !== 'stop-free')) {
    expect(p.notStopped).toBe(0);
    expect(Object.keys(p.served)).toEqual(['ptrace']);
    expect(p.pauseNs.median!).toBeGreaterThan(0);
    // The kernel's accounting agrees that the threads were stopped: each was switched out.
    expect(p.kernel.contextSwitches.median!).toBeGreaterThanOrEqual(1);
  }
  expect(r.stops).toBe(r.paths.reduce((n, p) => n + p.pauseNs.n, 0));

  expect(r.naming.frames).toBeGreaterThan(0);
  expect(r.naming.coldNsPerFrame!).toBeGreaterThan(0);
  expect(r.naming.warmNsPerFrame!).toBeGreaterThan(0);
  expect(r.naming.firstSnapshotNs!).toBeGreaterThan(0);
  expect(r.naming.snapshotNsPerFrame.n).toBe(rounds - 1); // the first snapshot is cold
  expect(r.naming.sources.elf ?? 0).toBeGreaterThan(0);
  expect(r.verdict).toMatch(/^Frame pointers alone lose /);
  expect(r.verdict).toMatch(/A ptrace stop, one thread at a time, costs /);
  expect(r.verdict).toMatch(/Naming costs /);
}

describe('benchmark(pid)', () => {
  it.skipIf(!HAVE_GCC)('measures the bench fixture (bench/target.c); the plan comes before any stop', async () => {
    const t = await benchTargets.startCTarget({ workers: 2, depth: 8 });
    try {
      let plan: BenchPlan | undefined;
      const events: string[] = [];
      const r = await benchmark(t.pid, {
        count: 2,
        onPlan: (p) => {
          plan = p;
          events.push('plan');
        },
        onRound: (done) => events.push(`round ${done}`),
      });
      expect(plan).toEqual(r.plan);
      expect(events).toEqual(['plan', 'round 1', 'round 2']);
      expect(r.plan.threads).toBe(4); // main, spinner, 2 workers
      expectSane(r, 2);
      // Built with frame pointers: fp completes the spinning workers as hybrid does.
      expect(r.methods[0]!.complete).toBeGreaterThan(0);
    } finally {
      t.stop();
    }
  });

  it('measures an idle node: fp loses the stacks blocked in libc, the stop-free path stops nothing', async () => {
    const t = await startNode(IDLE_NODE);
    const r = await benchmark(t.pid, { count: 2 });
    expectSane(r, 2);
    expect(r.fpLoss.lost).toBeGreaterThan(0);
    expect(r.fpLoss.breakers.map((b) => path.basename(b.module))).toContain('libc.so.6');
    const free = r.paths.find((p) => p.path === 'stop-free')!;
    expect(free.notStopped).toBeGreaterThan(0);
  });

  it('measures a busy node: its JavaScript frames are named from V8', async () => {
    const t = await startNode(BUSY_NODE);
    const r = await benchmark(t.pid, { count: 2 });
    expectSane(r, 2);
    expect(r.naming.sources.v8 ?? 0).toBeGreaterThan(0);
  });

  it.skipIf(!HAVE_DEBIAN_PYTHON)(`measures Debian's ${DEBIAN_PYTHON}: Python frames named from CPython`, async () => {
    const t = await startTarget(DEBIAN_PYTHON, ['-u', PYTHON_SCRIPT]);
    const r = await benchmark(t.pid, { count: 2 });
    expectSane(r, 2);
    expect(r.naming.sources.cpython ?? 0).toBeGreaterThan(0);
    // libpython keeps no frame pointers: fp alone loses stacks there or in libc.
    expect(r.fpLoss.lost).toBeGreaterThan(0);
  });

  it('gives partial results, stated, when the target exits mid-run', async () => {
    const t = await startNode(IDLE_NODE);
    const r = await benchmark(t.pid, {
      count: 1000,
      durationMs: 120_000,
      onRound: (done) => {
        if (done === 2) process.kill(t.pid, 'SIGKILL');
      },
    });
    expect(r.partial?.reason).toBe('target-exited');
    expect(r.partial?.message).toMatch(/exited during round 3 of 1000: the figures cover the 2 rounds done/);
    expect(r.rounds).toBe(2);
    expect(r.methods[1]!.stacks).toBeGreaterThan(0);
    expect(r.verdict).toMatch(/^Partial: /);
    expect(isAlive(t.pid)).toBe(false);
  });

  it('refuses bad options and a bad pid as the rest of the API does', async () => {
    await expect(benchmark(process.pid)).rejects.toMatchObject({ code: 'EINVAL', reason: 'own-pid' });
    await expect(benchmark(1, { count: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    await expect(benchmark(1, { counts: 3 } as never)).rejects.toThrow(/options.counts is not an option/);
  });
});

// ---------------------------------------------------------------------------------------------
// The command

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}, prefix: string[] = []): Promise<Run> {
  return runNode([...prefix, process.execPath, CLI, ...args], env, 55_000);
}

function runNode(cmd: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Run> {
  const child = spawn(cmd[0]!, cmd.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: os.tmpdir(),
    env: { ...process.env, NO_COLOR: '1', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const DIST = {
  type: 'object',
  required: ['n', 'median', 'p90', 'max'],
  additionalProperties: false,
  properties: {
    n: { type: 'integer', minimum: 0 },
    median: { type: ['number', 'null'] },
    p90: { type: ['number', 'null'] },
    max: { type: ['number', 'null'] },
  },
};
const COUNTS = { type: 'object', additionalProperties: { type: 'integer', minimum: 0 } };
const KIND = {
  type: 'object',
  required: ['kind', 'stacks', 'complete', 'frames', 'ends', 'walkNsPerFrame', 'walkNsPerStack'],
  properties: {
    kind: { type: 'string' },
    stacks: { type: 'integer' },
    complete: { type: 'integer' },
    frames: DIST,
    ends: COUNTS,
    walkNsPerFrame: DIST,
    walkNsPerStack: DIST,
  },
};
/** The documented --json shape (README, "stackshot bench"). */
const REPORT_SCHEMA = {
  type: 'object',
  required: [
    'version',
    'pid',
    'command',
    'startedAt',
    'plan',
    'rounds',
    'elapsedMs',
    'stops',
    'methods',
    'fpLoss',
    'paths',
    'naming',
    'verdict',
  ],
  properties: {
    version: { const: 1 },
    pid: { type: 'integer' },
    command: { type: 'string' },
    startedAt: { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT' },
    plan: {
      type: 'object',
      required: [
        'pid',
        'command',
        'threads',
        'rounds',
        'durationMs',
        'paths',
        'maxStops',
        'references',
        'referenceStops',
      ],
      properties: {
        threads: { type: 'integer', minimum: 1 },
        rounds: { type: 'integer', minimum: 1 },
        durationMs: { type: 'number' },
        paths: { type: 'array', items: { enum: ['ptrace-rolling', 'ptrace-consistent', 'stop-free'] } },
        maxStops: { type: 'integer' },
        references: { type: 'array', items: { enum: ['eu-stack', 'gdb', 'perf-fp', 'perf-dwarf'] } },
        referenceStops: { type: 'integer' },
      },
    },
    rounds: { type: 'integer' },
    elapsedMs: { type: 'number' },
    stops: { type: 'integer' },
    partial: {
      type: 'object',
      required: ['reason', 'message'],
      properties: { reason: { enum: ['target-exited', 'capture-failed'] }, message: { type: 'string' } },
    },
    methods: {
      type: 'array',
      minItems: 2,
      items: {
        type: 'object',
        required: ['method', 'stacks', 'complete', 'frames', 'walkNsPerFrame', 'walkNsPerStack', 'ends', 'kinds'],
        properties: {
          method: { enum: ['fp', 'hybrid'] },
          frames: DIST,
          walkNsPerFrame: DIST,
          walkNsPerStack: DIST,
          ends: COUNTS,
          kinds: { type: 'array', items: KIND },
        },
      },
    },
    fpLoss: {
      type: 'object',
      required: ['lost', 'recovered', 'breakers'],
      properties: {
        breakers: {
          type: 'array',
          items: { type: 'object', required: ['module', 'stacks'], properties: { module: { type: 'string' } } },
        },
      },
    },
    paths: {
      type: 'array',
      items: {
        type: 'object',
        required: [
          'path',
          'captures',
          'pauseNs',
          'notStopped',
          'served',
          'fallbacks',
          'kernel',
          'bytesCopied',
          'captureNs',
          'pauses',
        ],
        properties: {
          path: { enum: ['ptrace-rolling', 'ptrace-consistent', 'stop-free'] },
          pauseNs: DIST,
          served: { type: 'object', propertyNames: { enum: ['ptrace', 'blocked', 'perf'] } },
          fallbacks: COUNTS,
          kernel: {
            type: 'object',
            required: ['runDelayNs', 'contextSwitches', 'unread'],
            properties: { runDelayNs: DIST, contextSwitches: DIST, unread: { type: 'integer' } },
          },
          bytesCopied: DIST,
          captureNs: DIST,
          pauses: { type: 'array', items: { type: 'number', exclusiveMinimum: 0 } },
        },
      },
    },
    naming: {
      type: 'object',
      required: [
        'frames',
        'coldNsPerFrame',
        'coldDiskCacheNsPerFrame',
        'warmNsPerFrame',
        'firstSnapshotNs',
        'firstSnapshotDiskCache',
        'snapshotNsPerFrame',
        'sources',
        'unnamedReasons',
      ],
      properties: {
        coldDiskCacheNsPerFrame: { type: ['number', 'null'] },
        firstSnapshotDiskCache: { type: 'boolean' },
        snapshotNsPerFrame: DIST,
        sources: {
          type: 'object',
          propertyNames: { enum: ['elf', 'plt', 'vdso', 'perf-map', 'v8', 'cpython', 'unnamed'] },
        },
        unnamedReasons: { type: 'array', items: { type: 'object', required: ['reason', 'frames'] } },
      },
    },
    references: {
      type: 'array',
      items: {
        type: 'object',
        required: ['tool', 'status'],
        properties: {
          tool: { enum: ['eu-stack', 'gdb', 'perf-fp', 'perf-dwarf'] },
          status: { enum: ['ran', 'missing', 'failed'] },
          frames: DIST,
        },
      },
    },
    verdict: { type: 'string', minLength: 1 },
  },
};
const validateReport = new Ajv({ allErrors: true, strict: false }).compile(REPORT_SCHEMA);

describe('stackshot bench', () => {
  it('--json prints a report that follows the documented schema; the plan goes to stderr first', async () => {
    const t = await startNode(IDLE_NODE);
    const run = await runCli(['bench', String(t.pid), '--count', '2', '--json']);
    expect(run.stderr).toMatch(new RegExp(`^bench: pid ${t.pid} \\(node\\), \\d+ threads: at most \\d+ thread stops`));
    expect(run.code).toBe(0);
    const r = JSON.parse(run.stdout) as BenchmarkReport;
    expect(validateReport(r), JSON.stringify(validateReport.errors)).toBe(true);
    expectSane(r, 2);
  });

  it('measures cold naming with the module cache off and filled; STACKSHOT_CACHE=off leaves it alone', async () => {
    const t = await startNode(IDLE_NODE);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-cache-'));
    try {
      const entries = () => fs.readdirSync(dir).filter((f) => f.endsWith('.bin'));
      const off = await runCli(['bench', String(t.pid), '--count', '1', '--json'], {
        STACKSHOT_CACHE_DIR: dir,
        STACKSHOT_CACHE: 'off',
      });
      expect(off.code, off.stderr).toBe(0);
      const r = JSON.parse(off.stdout) as BenchmarkReport;
      expect(r.naming.coldNsPerFrame!).toBeGreaterThan(0);
      expect(r.naming.coldDiskCacheNsPerFrame).toBeNull();
      expect(r.naming.firstSnapshotDiskCache).toBe(false);
      expect(entries()).toEqual([]); // cache off: nothing written, not even by the cold passes
      const on = await runCli(['bench', String(t.pid), '--count', '1', '--json'], {
        STACKSHOT_CACHE_DIR: dir,
        STACKSHOT_CACHE: '',
      });
      expect(on.code, on.stderr).toBe(0);
      const s = JSON.parse(on.stdout) as BenchmarkReport;
      expect(s.naming.coldDiskCacheNsPerFrame!).toBeGreaterThan(0);
      expect(s.naming.firstSnapshotDiskCache).toBe(true);
      // The cold pass with the cache on filled it with node's symbol index, at least.
      expect(entries().length).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints the tables and the verdict, and writes the pause chart with -o', async () => {
    const t = await startNode(IDLE_NODE);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-test-'));
    try {
      const svg = path.join(dir, 'pauses.svg');
      const run = await runCli(['bench', String(t.pid), '--count', '1', '-o', svg]);
      expect(run.code).toBe(0);
      for (const heading of ['unwinding methods', 'thread kind', 'capture paths', 'naming:', 'Frame pointers alone']) {
        expect(run.stdout).toContain(heading);
      }
      expect(run.stdout).toMatch(/^hybrid\s+\d+\s+\d+/m);
      expect(run.stdout).toMatch(/^ptrace-rolling\s+1\s/m);
      const chart = fs.readFileSync(svg, 'utf8');
      expect(chart).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      expect(chart).not.toMatch(/<script|href=/);
      for (const p of ['ptrace-rolling', 'ptrace-consistent', 'stop-free']) expect(chart).toContain(`>${p}<`);
      expect(chart.match(/<circle /g)?.length ?? 0).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--compare names every reference missing from PATH', async () => {
    const t = await startNode(IDLE_NODE);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-path-'));
    try {
      const run = await runCli(['bench', String(t.pid), '--count', '1', '--compare', '--json'], { PATH: empty });
      expect(run.code).toBe(0);
      const r = JSON.parse(run.stdout) as BenchmarkReport;
      expect(r.plan.references).toEqual([]);
      expect(r.references?.map((x) => [x.tool, x.status])).toEqual([
        ['eu-stack', 'missing'],
        ['gdb', 'missing'],
        ['perf-fp', 'missing'],
        ['perf-dwarf', 'missing'],
      ]);
      expect(r.verdict).toContain('not installed: eu-stack, gdb, perf-fp, perf-dwarf');
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  it.skipIf(!HAVE_EU_STACK)('--compare runs an installed reference (eu-stack) side by side', async () => {
    const t = await startNode(IDLE_NODE);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-path-'));
    try {
      fs.symlinkSync('/usr/bin/eu-stack', path.join(dir, 'eu-stack'));
      const run = await runCli(['bench', String(t.pid), '--count', '2', '--compare', '--json'], { PATH: dir });
      expect(run.code).toBe(0);
      const r = JSON.parse(run.stdout) as BenchmarkReport;
      // eu-stack stops every thread, and so does the baseline snapshot taken right before it.
      expect(r.plan.referenceStops).toBe(2 * r.plan.threads);
      expect(run.stderr).toContain(`then one more snapshot and eu-stack once each (${2 * r.plan.threads} more stops)`);
      expect(validateReport(r), JSON.stringify(validateReport.errors)).toBe(true);
      const eu = r.references!.find((x) => x.tool === 'eu-stack')!;
      expect(eu.status).toBe('ran');
      // eu-stack's oracle: one stack per thread, as many as stackshot captured.
      expect(eu.stacks).toBe(r.plan.threads);
      expect(eu.frames!.median!).toBeGreaterThan(1);
      expect(eu.wallRatio!).toBeGreaterThan(0);
      expect(eu.framesRatio!).toBeGreaterThan(0);
      expect(r.references!.filter((x) => x.status === 'missing').map((x) => x.tool)).toEqual([
        'gdb',
        'perf-fp',
        'perf-dwarf',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!HAVE_GCC)(
    '--compare runs every installed reference on the bench fixture: eu-stack and gdb see every thread, perf samples the spinner',
    async () => {
      const t = await benchTargets.startCTarget({ workers: 1, depth: 4 });
      try {
        const run = await runCli(['bench', String(t.pid), '--count', '1', '--compare', '--json'], {
          PATH: '/usr/bin:/bin',
        });
        expect(run.code).toBe(0);
        const r = JSON.parse(run.stdout) as BenchmarkReport;
        expect(validateReport(r), JSON.stringify(validateReport.errors)).toBe(true);
        const installed = (tool: string) => fs.existsSync(`/usr/bin/${tool}`);
        for (const ref of r.references!) {
          const tool = ref.tool.startsWith('perf') ? 'perf' : ref.tool;
          expect(ref.status, `${ref.tool}: ${ref.error ?? ''}`).toBe(installed(tool) ? 'ran' : 'missing');
          if (ref.status !== 'ran') continue;
          if (ref.tool === 'eu-stack' || ref.tool === 'gdb') {
            expect(ref.stacks).toBe(r.plan.threads); // one stack per thread
            expect(ref.wallRatio!).toBeGreaterThan(0);
          } else {
            expect(ref.stacks!).toBeGreaterThan(0); // the spinner ran during the second of sampling
          }
          expect(ref.frames!.median!).toBeGreaterThan(1);
        }
      } finally {
        t.stop();
      }
    },
    120_000,
  );

  it('bench --help lists its options; stackshot --help lists the command', async () => {
    const h = await runCli(['bench', '--help']);
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^Usage: stackshot bench \[options\] <pid>/);
    for (const flag of ['--count', '--duration', '--compare', '--output', '--json']) expect(h.stdout).toContain(flag);
    expect((await runCli(['--help'])).stdout).toMatch(/^\s+bench \[options\] <pid>/m);
  });

  it('reports a bad pid and a gone process as the rest of the CLI does', async () => {
    const bad = await runCli(['bench', 'abc']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^stackshot: invalid pid "abc": a pid is a positive integer \[EINVAL\]\nhint: /);
    const gone = await runCli(['bench', '999999999']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/\[ESRCH\]\nhint: /);
    const usage = await runCli(['bench', '1', '--count', 'x']);
    expect(usage.code).toBe(2);
    const inf = await runCli(['bench', '1', '--duration', 'inf']);
    expect(inf.code).toBe(2);
    expect(inf.stderr).toContain('a benchmark needs a finite duration');
  });

  it.skipIf(!IS_ROOT || !fs.existsSync('/usr/bin/setpriv'))(
    'refuses without permission, with the permission hint, before any figure',
    async () => {
      const t = await startNode(IDLE_NODE);
      const run = await runCli(['bench', String(t.pid), '--count', '1'], {}, [
        'setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
      ]);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/\[EPERM\]\nhint: /);
      expect(run.stdout).toBe('');
    },
  );
});

describe('bench/agreement.js', () => {
  it.skipIf(!HAVE_GCC)(
    'sets stackshot bench next to npm run bench on the bench fixture: every figure from both, the frame counts equal',
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-agreement-test-'));
      try {
        const out = path.join(dir, 'agreement.json');
        const env = { AGREEMENT_ROUNDS: '2', AGREEMENT_TARGETS: 'fixture', AGREEMENT_JSON: out };
        const run = await runNode([process.execPath, path.join(ROOT, 'bench', 'agreement.js')], env, 110_000);
        expect(run.code, run.stderr).toBe(0);
        const { results } = JSON.parse(fs.readFileSync(out, 'utf8')) as {
          results: {
            target: string;
            error?: string;
            rows: { figure: string; npmBench: number; stackshotBench: number; unit: string }[];
          }[];
        };
        expect(results).toHaveLength(1);
        expect(results[0]!.error).toBeUndefined();
        expect(results[0]!.rows).toHaveLength(8);
        for (const r of results[0]!.rows) {
          expect(r.npmBench, r.figure).toBeGreaterThan(0);
          expect(r.stackshotBench, r.figure).toBeGreaterThan(0);
        }
        // The same stacks counted by both: frames per stack match exactly.
        const frames = results[0]!.rows.find((r) => r.unit === 'count')!;
        expect(frames.stackshotBench).toBe(frames.npmBench);
        expect(run.stdout).toMatch(/\d+ of 8 figures within 2×/);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
