// npm run bench — what a stackshot snapshot costs, measured against eu-stack and gdb on the
// same targets in the same run, with the pause measured from the target's own side.
//
//   npm run bench                 full run (≈ 2–3 min on a 2-vCPU VM)
//   BENCH_QUICK=1 npm run bench   smoke run (≈ 30 s)
//   BENCH_SECTIONS=main,unwinder,scaling,node,coldcli,sampling   run only some sections
//
// Prints markdown tables; writes bench/results/latest.json. Medians over interleaved rounds
// (stackshot, eu-stack, gdb, repeat): the machine is noisy, trust ratios and medians.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCTarget, startGrandchild, withTargetWindow, gapsInWindow, sleepMs } = require('./target.js');
const tools = require('./tools.js');
const { measureUnwinder } = require('./unwind.js');
const { coldCliSection, coldCliGoals } = require('./cold-cli.js');
const { NODE_FLAGS, DEBIAN_PYTHON, runtimePrograms } = require('./runtime-targets.js');
const { coldFigures } = require('./cold-figures.js');

const QUICK = process.env.BENCH_QUICK === '1';
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'main,unwinder,scaling,node,coldcli,sampling').split(','));
const CFG = QUICK
  ? {
      rounds: 5,
      perRound: 5,
      gdbEvery: 5,
      scaleRounds: 2,
      scaleGdb: 1,
      gdbDeep: false,
      nodeRounds: 3,
      sampleRounds: 1,
      sampleMs: 1000,
    }
  : {
      rounds: 24,
      perRound: 10,
      gdbEvery: 4,
      scaleRounds: 6,
      scaleGdb: 2,
      gdbDeep: true,
      nodeRounds: 8,
      sampleRounds: 6,
      sampleMs: 1500,
    };

// ------------------------------------------------------------------ loading stackshot

function loadStackshot() {
  for (let attempt = 0; ; attempt++) {
    try {
      return require('../dist/index.js');
    } catch (err) {
      if (attempt >= 5) throw err;
      console.error(
        `bench: loading stackshot failed (${err.message.split('\n')[0]}); the addon may be rebuilding, retrying in 5 s`,
      );
      sleepMs(5000);
    }
  }
}
const lib = loadStackshot();

/** snapshotSync with a retry: a rebuilt addon or a transient error must not sink the whole run. */
function snap(pid, options) {
  try {
    return lib.snapshotSync(pid, options);
  } catch (err) {
    console.error(`bench: snapshotSync(${pid}) failed: ${err.code ?? ''} ${err.message}; retrying once`);
    sleepMs(1000);
    return lib.snapshotSync(pid, options);
  }
}

// ------------------------------------------------------------------ statistics and formatting

function quantile(values, q) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const med = (v) => quantile(v, 0.5);
const p90 = (v) => quantile(v, 0.9);
const max = (v) => (v.length ? Math.max(...v) : NaN);
function dur(ns) {
  if (!Number.isFinite(ns)) return 'n/a';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e8 ? 0 : 2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(1)} µs`;
  return `${ns.toFixed(1)} ns`;
}
function bytes(b) {
  if (!Number.isFinite(b)) return 'n/a';
  if (b >= 1 << 20) return `${(b / (1 << 20)).toFixed(2)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? a / b : NaN);
const fmtRatio = (r) => (Number.isFinite(r) ? `${r < 0.01 ? r.toFixed(4) : r.toFixed(3)}×` : 'n/a');
const pct = (x) => (Number.isFinite(x) ? `${(x * 100).toFixed(2)} %` : 'n/a');
function table(header, rows) {
  const out = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.join(' | ')} |`);
  console.log(out.join('\n') + '\n');
}
const triple = (v) => `${dur(med(v))} / ${dur(p90(v))} / ${dur(max(v))}`;

const started = Date.now();
const results = { quick: QUICK, config: CFG };
// The whole run must fit in 5 minutes with `npm run build:ts` on a busy 2-vCPU machine: each
// section stops adding rounds at its share of this budget (and says so).
const BUDGET_MS = Number(process.env.BENCH_BUDGET_S ?? (QUICK ? 120 : 255)) * 1000;
const elapsed = () => Date.now() - started;
const pastShare = (share) => elapsed() > share * BUDGET_MS;
const cut = [];

/** CPU time shares since `prev` from /proc/stat: steal (the hypervisor ran someone else) and busy. */
function cpuStat() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), idle: f[3] + f[4], steal: f[7] ?? 0 };
}
function cpuShares(a, b) {
  const total = b.total - a.total || 1;
  return { steal: (b.steal - a.steal) / total, busy: 1 - (b.idle - a.idle) / total };
}

// ------------------------------------------------------------------ measuring stackshot in-process

/** One warm in-process snapshot of a C target, with the target-side pause of the spinner. */
function measureSnapshot(target, options, acc) {
  const w = withTargetWindow(target, () => snap(target.pid, options));
  const shot = w.value;
  const spin = shot.threads.find((t) => t.tid === target.spinTid);
  const frames = shot.threads.reduce((n, t) => n + t.frames.length, 0);
  acc.wall.push(w.wallNs);
  acc.totalNs.push(shot.cost.totalNs);
  acc.pauseMax.push(shot.cost.pauseNsMax);
  acc.walk.push(shot.cost.walkNs);
  acc.walkPerFrame.push(frames ? shot.cost.walkNs / frames : NaN);
  acc.symbolize.push(shot.cost.symbolizeNs);
  acc.symPerFrame.push(frames ? shot.cost.symbolizeNs / frames : NaN);
  acc.bytes.push(shot.cost.bytesCopied);
  acc.frames.push(frames);
  for (const t of shot.threads) {
    if (t.failure) acc.failures.push(`${t.tid}:${t.failure}`);
    else {
      acc.pause.push(t.pauseNs);
      const kind = t.tid === target.pid ? 'main' : (target.kinds.get(t.tid) ?? 'other');
      (acc.pauseByKind[kind] ??= []).push(t.pauseNs);
    }
    acc.threadBytes.push(t.stackBytes);
  }
  acc.spinReported.push(spin ? spin.pauseNs : NaN);
  if (spin) acc.spinCapture[spin.capture] = (acc.spinCapture[spin.capture] ?? 0) + 1;
  acc.spinTarget.push(w.targetPauseNs);
  acc.spinStopped.push(w.targetStoppedNs);
  acc.spinAny.push(w.targetAnyGapNs);
  acc.stops.push(w.stops);
  if (!w.settled) acc.unsettled = (acc.unsettled ?? 0) + 1;
  acc.last = shot;
  return shot;
}
function newAcc() {
  return {
    wall: [],
    totalNs: [],
    pauseMax: [],
    walk: [],
    walkPerFrame: [],
    symbolize: [],
    symPerFrame: [],
    bytes: [],
    frames: [],
    pause: [],
    threadBytes: [],
    spinReported: [],
    spinCapture: {},
    spinTarget: [],
    spinStopped: [],
    spinAny: [],
    stops: [],
    failures: [],
    pauseByKind: {},
    last: null,
  };
}

async function measureAsync(target, options, acc) {
  const before = target.stats.header().gapCount;
  const t0 = process.hrtime.bigint();
  const shot = await lib.snapshot(target.pid, options);
  const t1 = process.hrtime.bigint();
  const settled = target.stats.settle();
  const w = gapsInWindow(target, before, t0, t1);
  acc.wall.push(Number(t1 - t0));
  acc.totalNs.push(shot.cost.totalNs);
  acc.spinTarget.push(!settled && w.stops === 0 ? NaN : w.stopNs);
  acc.spinStopped.push(!settled && w.stops === 0 ? NaN : w.stoppedNs);
  const spin = shot.threads.find((t) => t.tid === target.spinTid);
  acc.spinReported.push(spin ? spin.pauseNs : NaN);
}

/** A tool run (eu-stack / gdb / CLI / cold child) with the target-side pause. */
function measureTool(target, fn, acc) {
  const w = withTargetWindow(target, fn);
  acc.wall.push(w.wallNs);
  acc.spinTarget.push(w.targetPauseNs);
  acc.spinStopped.push(w.targetStoppedNs);
  acc.spinAny.push(w.targetAnyGapNs);
  acc.stops.push(w.stops);
  acc.gapSum.push(w.targetGapSumNs);
  acc.runs.push(w.value);
  if (!w.value.ok)
    acc.errors.push(
      (w.value.stderr || String(w.value.error ?? `status ${w.value.status}`)).trim().split('\n').slice(-1)[0],
    );
  return w.value;
}
const newToolAcc = () => ({
  wall: [],
  spinTarget: [],
  spinStopped: [],
  spinAny: [],
  stops: [],
  gapSum: [],
  runs: [],
  errors: [],
});

// ------------------------------------------------------------------ stacks: frames and completeness per thread kind

/** { kind -> { frames: [], complete: n, total: n } } from a map tid -> names[] (or stackshot threads). */
function stacksByKind(target, perTid) {
  const out = {};
  for (const [tid, kind0] of [...target.kinds]) {
    const kind = tid === target.pid ? 'main' : kind0;
    const s = perTid.get(tid);
    out[kind] ??= { frames: [], complete: 0, total: 0 };
    out[kind].total++;
    if (!s) continue;
    out[kind].frames.push(s.frames);
    if (s.complete) out[kind].complete++;
  }
  return out;
}
function fromNames(threads, stopsAtMain = false) {
  const m = new Map();
  for (const [tid, names] of threads)
    m.set(tid, { frames: names.length, complete: tools.completeByNames(names, stopsAtMain) });
  return m;
}
function fromShot(shot) {
  const m = new Map();
  for (const t of shot.threads)
    m.set(t.tid, {
      frames: t.frames.length,
      complete: t.complete,
      namesComplete: tools.completeByNames(t.frames.map((f) => f.symbol)),
    });
  return m;
}
function completeSummary(perTid) {
  const v = [...perTid.values()];
  return { threads: v.length, complete: v.filter((s) => s.complete).length, framesMedian: med(v.map((s) => s.frames)) };
}

// ------------------------------------------------------------------ section 1: the main target

async function mainSection() {
  const target = await startCTarget({ workers: 8, depth: 20 });
  results.clock = target.clock;
  console.log(
    `## Main target: bench/target.c, ${target.threads} threads (main, 1 spinner in frame-pointer code, 8 workers blocked in nanosleep / pthread_cond_wait / pthread_join / epoll_wait), depth 20\n`,
  );
  console.log(
    `How the pause is seen by the target: the spinner reads the TSC on every loop iteration and logs each gap > 1 µs with its CLOCK_MONOTONIC end time and its context switches (getrusage). "Pause seen by the target" = the longest gap that overlaps the tool's run AND contains a voluntary context switch (the spinner was stopped; the wait for a CPU after the resume is included; "minus wait for a CPU" subtracts the run-queue time of that gap from /proc/thread-self/schedstat). Clock costs measured in the target: ${target.clock} (CLOCK_MONOTONIC_COARSE is cheap but too coarse).\n`,
  );
  try {
    for (let i = 0; i < 20; i++) snap(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling' }); // warm caches, arenas, page faults
    const ss = {
      rolling: newAcc(),
      consistent: newAcc(),
      capture: newAcc(),
      ptrace: newAcc(),
      async: { wall: [], totalNs: [], spinTarget: [], spinStopped: [], spinReported: [] },
    };
    const eu = newToolAcc();
    const gdbAcc = newToolAcc();
    const cli = newToolAcc();
    const cold = newToolAcc();
    let roundsDone = 0;
    for (let r = 0; r < CFG.rounds; r++) {
      if (r >= 5 && pastShare(0.3)) {
        cut.push(`main target: ${r} of ${CFG.rounds} rounds (time budget)`);
        break;
      }
      roundsDone++;
      // the four in-process blocks in a rotating order, so none always runs right after the tools
      const blocks = [
        async () => {
          for (let k = 0; k < CFG.perRound; k++) measureSnapshot(target, { schedule: 'rolling' }, ss.rolling);
        },
        async () => {
          for (let k = 0; k < CFG.perRound; k++) measureSnapshot(target, { schedule: 'consistent' }, ss.consistent);
        },
        async () => {
          for (let k = 0; k < CFG.perRound; k++)
            measureSnapshot(target, { schedule: 'rolling', symbolize: false }, ss.capture);
        },
        async () => {
          for (let k = 0; k < 3; k++) await measureAsync(target, { schedule: 'rolling' }, ss.async);
        },
        async () => {
          for (let k = 0; k < CFG.perRound; k++)
            measureSnapshot(target, { schedule: 'rolling', capture: 'ptrace' }, ss.ptrace);
        },
      ];
      for (let b = 0; b < blocks.length; b++) await blocks[(b + r) % blocks.length]();
      measureTool(target, () => tools.euStack(target.pid), eu);
      // a fresh node process costs 0.3–2 s here: every other round
      if (r % 2 === 0) measureTool(target, () => tools.stackshotCli(target.pid), cli);
      else measureTool(target, () => tools.stackshotCold(target.pid), cold);
      if (r % CFG.gdbEvery === 0) measureTool(target, () => tools.gdb(target.pid), gdbAcc);
    }
    const R = ss.rolling;
    const C = ss.consistent;
    const P = ss.ptrace;
    // How the rolling snapshots captured the spinner: on perf events it is never stopped, so its
    // pause is the longest gap of any kind in the window (the sample's interrupt and stack copy,
    // and any preemption by the busy machine), not a stop.
    const rollingPath = Object.entries(R.spinCapture)
      .map(([k, n]) => `${k} ${n}`)
      .join(', ');
    const perfPath = (R.spinCapture.perf ?? 0) > (R.spinCapture.ptrace ?? 0);
    const rollingPause = perfPath ? R.spinAny : R.spinTarget;
    const coldRes = cold.runs.filter((x) => x.ok).map((x) => x.result);
    const euOk = eu.runs.filter((x) => x.ok);
    const gdbOk = gdbAcc.runs.filter((x) => x.ok);

    console.log(
      `### stackshot on the main target (${roundsDone} interleaved rounds; ${R.wall.length} snapshots per schedule; CLI ${cli.wall.length} runs and fresh-process snapshot ${cold.wall.length} runs, alternating rounds)\n`,
    );
    table(
      ['measure', 'median', 'p90', 'max'],
      [
        [
          'per-thread pause, rolling — reported (`pauseNs`, all threads)',
          dur(med(R.pause)),
          dur(p90(R.pause)),
          dur(max(R.pause)),
        ],
        [
          'per-thread pause, rolling — seen by the target (spinner gap)',
          dur(med(R.spinTarget)),
          dur(p90(R.spinTarget)),
          dur(max(R.spinTarget)),
        ],
        [
          "  same, minus the spinner's wait for a CPU after the resume (schedstat run_delay)",
          dur(med(R.spinStopped)),
          dur(p90(R.spinStopped)),
          dur(max(R.spinStopped)),
        ],
        [
          '  same, longest gap of any kind in the window (also preemption, interrupts)',
          dur(med(R.spinAny)),
          dur(p90(R.spinAny)),
          dur(max(R.spinAny)),
        ],
        [
          '  stops of the spinner per rolling snapshot (target-side count; expect 1)',
          String(med(R.stops)),
          String(p90(R.stops)),
          String(max(R.stops)),
        ],
        [
          'per-thread pause, consistent — reported (`pauseNs`, all threads)',
          dur(med(C.pause)),
          dur(p90(C.pause)),
          dur(max(C.pause)),
        ],
        [
          'per-thread pause, consistent — seen by the target (spinner gap)',
          dur(med(C.spinTarget)),
          dur(p90(C.spinTarget)),
          dur(max(C.spinTarget)),
        ],
        [
          '  same, minus the wait for a CPU after the resume',
          dur(med(C.spinStopped)),
          dur(p90(C.spinStopped)),
          dur(max(C.spinStopped)),
        ],
        [
          'in-process snapshotSync, warm, symbolized, rolling (wall)',
          dur(med(R.wall)),
          dur(p90(R.wall)),
          dur(max(R.wall)),
        ],
        [
          'in-process snapshotSync, warm, symbolized, consistent (wall)',
          dur(med(C.wall)),
          dur(p90(C.wall)),
          dur(max(C.wall)),
        ],
        [
          'in-process snapshot() (async), warm, symbolized, rolling (wall)',
          dur(med(ss.async.wall)),
          dur(p90(ss.async.wall)),
          dur(max(ss.async.wall)),
        ],
        [
          'in-process snapshotSync, warm, symbolize:false, rolling (wall)',
          dur(med(ss.capture.wall)),
          dur(p90(ss.capture.wall)),
          dur(max(ss.capture.wall)),
        ],
        [
          'stack bytes copied per snapshot (all threads)',
          bytes(med(R.bytes)),
          bytes(p90(R.bytes)),
          bytes(max(R.bytes)),
        ],
        [
          'stack bytes copied per thread',
          bytes(med(R.threadBytes)),
          bytes(p90(R.threadBytes)),
          bytes(max(R.threadBytes)),
        ],
        ['walk (native unwind), per snapshot', dur(med(R.walk)), dur(p90(R.walk)), dur(max(R.walk))],
        ['walk per frame', dur(med(R.walkPerFrame)), dur(p90(R.walkPerFrame)), dur(max(R.walkPerFrame))],
        ['frames per snapshot (all threads)', String(med(R.frames)), String(p90(R.frames)), String(max(R.frames))],
        [
          'symbolize, warm (in-process), per snapshot',
          dur(med(R.symbolize)),
          dur(p90(R.symbolize)),
          dur(max(R.symbolize)),
        ],
        [
          'symbolize, warm, per frame (target ≤ 1 µs per address)',
          dur(med(R.symPerFrame)),
          dur(p90(R.symPerFrame)),
          dur(max(R.symPerFrame)),
        ],
        [
          'walk, cold (fresh node process, first snapshot, `cost.walkNs`)',
          dur(med(coldRes.map((x) => x.cost.walkNs))),
          dur(p90(coldRes.map((x) => x.cost.walkNs))),
          dur(max(coldRes.map((x) => x.cost.walkNs))),
        ],
        [
          'symbolize, cold (fresh node process, first snapshot)',
          dur(med(coldRes.map((x) => x.cost.symbolizeNs))),
          dur(p90(coldRes.map((x) => x.cost.symbolizeNs))),
          dur(max(coldRes.map((x) => x.cost.symbolizeNs))),
        ],
        [
          'snapshot total, cold (fresh process, first snapshot, `cost.totalNs`)',
          dur(med(coldRes.map((x) => x.cost.totalNs))),
          dur(p90(coldRes.map((x) => x.cost.totalNs))),
          dur(max(coldRes.map((x) => x.cost.totalNs))),
        ],
        [
          'second snapshot in that fresh process (wall)',
          dur(med(coldRes.map((x) => x.warmWallNs))),
          dur(p90(coldRes.map((x) => x.warmWallNs))),
          dur(max(coldRes.map((x) => x.warmWallNs))),
        ],
        [
          'require("stackshot") in a fresh process',
          dur(med(coldRes.map((x) => x.loadNs))),
          dur(p90(coldRes.map((x) => x.loadNs))),
          dur(max(coldRes.map((x) => x.loadNs))),
        ],
        [
          'fresh process, first snapshot: pause seen by the target (spinner gap)',
          dur(med(cold.spinTarget)),
          dur(p90(cold.spinTarget)),
          dur(max(cold.spinTarget)),
        ],
        [
          'fresh process: same, minus the wait for a CPU after the resume',
          dur(med(cold.spinStopped)),
          dur(p90(cold.spinStopped)),
          dur(max(cold.spinStopped)),
        ],
        [
          'fresh process, first snapshot: spinner `pauseNs` reported',
          dur(med(coldRes.map((x) => x.pauses[target.spinTid]))),
          dur(p90(coldRes.map((x) => x.pauses[target.spinTid]))),
          dur(max(coldRes.map((x) => x.pauses[target.spinTid]))),
        ],
        ['CLI wall: `stackshot <pid> --json > /dev/null`', dur(med(cli.wall)), dur(p90(cli.wall)), dur(max(cli.wall))],
        [
          'CLI: pause seen by the target (spinner gap)',
          dur(med(cli.spinTarget)),
          dur(p90(cli.spinTarget)),
          dur(max(cli.spinTarget)),
        ],
        [
          'CLI: same, minus the wait for a CPU after the resume',
          dur(med(cli.spinStopped)),
          dur(p90(cli.spinStopped)),
          dur(max(cli.spinStopped)),
        ],
      ],
    );
    console.log(
      "Reported pause (`pauseNs`) by thread kind, median / p90 / max — the target can only see the spinner's:\n",
    );
    table(
      ['thread kind', 'rolling', 'consistent'],
      ['main', 'spin', 'sleep', 'condwait', 'join', 'epoll'].map((k) => [
        k,
        triple(R.pauseByKind[k] ?? []),
        triple(C.pauseByKind[k] ?? []),
      ]),
    );
    const unsettled = (R.unsettled ?? 0) + (C.unsettled ?? 0);
    if (unsettled)
      console.log(
        `(${unsettled} snapshots: the spinner did not run again within 1 s of the snapshot, so its gap was not seen; left out of the target-side figures)\n`,
      );
    if (R.failures.length || C.failures.length)
      console.log(`thread failures during capture: ${[...R.failures, ...C.failures].slice(0, 10).join(', ')}\n`);
    if (cli.errors.length) console.log(`CLI errors: ${cli.errors.slice(0, 3).join(' / ')}\n`);
    if (cold.errors.length) console.log(`cold-process errors: ${cold.errors.slice(0, 3).join(' / ')}\n`);

    console.log(
      `### Side by side on the same target (eu-stack ${eu.wall.length} runs, gdb ${gdbAcc.wall.length} runs, interleaved with the stackshot rows)\n`,
    );
    const ssShot = fromShot(R.last);
    const euLast = euOk.length ? fromNames(euOk[euOk.length - 1].threads) : new Map();
    const gdbLast = gdbOk.length ? fromNames(gdbOk[gdbOk.length - 1].threads, true) : new Map();
    const cs = completeSummary(ssShot);
    const ce = completeSummary(euLast);
    const cg = completeSummary(gdbLast);
    const euNote = eu.errors.length ? ` (errors: ${eu.errors[0]})` : '';
    const gdbNote = gdbAcc.errors.length ? ` (errors: ${gdbAcc.errors[0]})` : '';
    const pz = (a) => `${dur(med(a.spinTarget))} (${dur(p90(a.spinTarget))}, ${dur(max(a.spinTarget))})`;
    const st = (a) => `${dur(med(a.spinStopped))} (${dur(p90(a.spinStopped))})`;
    table(
      [
        'tool',
        'wall median (p90)',
        'pause seen by the target, median (p90, max)',
        'same minus wait for a CPU, median (p90)',
        'complete stacks',
        'frames/thread (median)',
      ],
      [
        [
          `stackshot in-process, warm, rolling (spinner captured: ${rollingPath})`,
          `${dur(med(R.wall))} (${dur(p90(R.wall))})`,
          pz(R),
          st(R),
          `${cs.complete}/${cs.threads}`,
          String(cs.framesMedian),
        ],
        [
          '  same: longest gap of any kind in the window (a perf sample stops nothing: this is its cost)',
          '',
          `${dur(med(R.spinAny))} (${dur(p90(R.spinAny))}, ${dur(max(R.spinAny))})`,
          '',
          '',
          '',
        ],
        [
          'stackshot in-process, warm, rolling, capture: ptrace (perf refused / today)',
          `${dur(med(P.wall))} (${dur(p90(P.wall))})`,
          pz(P),
          st(P),
          '',
          '',
        ],
        ['stackshot in-process, warm, consistent', `${dur(med(C.wall))} (${dur(p90(C.wall))})`, pz(C), st(C), '', ''],
        [
          'stackshot CLI (fresh node process)',
          `${dur(med(cli.wall))} (${dur(p90(cli.wall))})`,
          pz(cli),
          st(cli),
          '',
          '',
        ],
        [
          `eu-stack -p${euNote}`,
          `${dur(med(eu.wall))} (${dur(p90(eu.wall))})`,
          pz(eu),
          st(eu),
          `${ce.complete}/${ce.threads}`,
          String(ce.framesMedian),
        ],
        [
          `gdb -batch 'thread apply all bt'${gdbNote}`,
          `${dur(med(gdbAcc.wall))} (${dur(p90(gdbAcc.wall))})`,
          pz(gdbAcc),
          st(gdbAcc),
          `${cg.complete}/${cg.threads}`,
          String(cg.framesMedian),
        ],
      ],
    );
    const rWallEu = ratio(med(R.wall), med(eu.wall));
    const rPauseEu = ratio(med(rollingPause), med(eu.spinTarget));
    const rPauseEuRep = ratio(med(R.pause), med(eu.spinTarget));
    const rCliEu = ratio(med(cli.wall), med(eu.wall));
    table(
      ['ratio (medians)', 'stackshot / eu-stack', 'stackshot / gdb'],
      [
        ['wall: in-process warm rolling snapshot', fmtRatio(rWallEu), fmtRatio(ratio(med(R.wall), med(gdbAcc.wall)))],
        ['wall: CLI (fresh process)', fmtRatio(rCliEu), fmtRatio(ratio(med(cli.wall), med(gdbAcc.wall)))],
        [
          `pause seen by the target: rolling (${perfPath ? 'perf sample: longest gap of any kind' : 'stop'})`,
          fmtRatio(rPauseEu),
          fmtRatio(ratio(med(rollingPause), med(gdbAcc.spinTarget))),
        ],
        [
          'pause seen by the target: rolling, capture: ptrace',
          fmtRatio(ratio(med(P.spinTarget), med(eu.spinTarget))),
          fmtRatio(ratio(med(P.spinTarget), med(gdbAcc.spinTarget))),
        ],
        [
          'pause seen by the target minus wait for a CPU: rolling',
          fmtRatio(ratio(med(R.spinStopped), med(eu.spinStopped))),
          fmtRatio(ratio(med(R.spinStopped), med(gdbAcc.spinStopped))),
        ],
        [
          'pause seen by the target: consistent',
          fmtRatio(ratio(med(C.spinTarget), med(eu.spinTarget))),
          fmtRatio(ratio(med(C.spinTarget), med(gdbAcc.spinTarget))),
        ],
        [
          'complete stacks',
          `${cs.complete}/${cs.threads} vs ${ce.complete}/${ce.threads}`,
          `${cs.complete}/${cs.threads} vs ${cg.complete}/${cg.threads}`,
        ],
      ],
    );

    // completeness per thread kind
    const kinds = ['main', 'spin', 'sleep', 'condwait', 'join', 'epoll'];
    const bySs = stacksByKind(target, ssShot);
    const byEu = stacksByKind(target, euLast);
    const byGdb = stacksByKind(target, gdbLast);
    const cell = (b, k) =>
      b[k] && b[k].frames.length ? `${med(b[k].frames)} frames, ${b[k].complete}/${b[k].total} complete` : 'n/a';
    const expected = {
      main: '≈ 6 (pause, main_wait, main, libc start, _start)',
      spin: '≈ 24 (spin_leaf … 20 × recurse … start_thread, clone3)',
      sleep: '≈ 27',
      condwait: '≈ 27',
      join: '≈ 27',
      epoll: '≈ 26',
    };
    console.log(
      '### Stacks recovered per thread kind (last run of each tool; "complete" = reaches _start / start_thread / clone3: stackshot by its own `complete` flag, eu-stack and gdb by frame names; gdb main thread counts as complete at main, where gdb stops by default)\n',
    );
    table(
      ['thread kind', 'real depth', 'stackshot', 'eu-stack', 'gdb'],
      kinds.map((k) => [k, expected[k], cell(bySs, k), cell(byEu, k), cell(byGdb, k)]),
    );
    const ssNamesComplete = [...ssShot.values()].filter((s) => s.namesComplete).length;
    if (ssNamesComplete !== cs.complete)
      console.log(
        `note: by frame names, ${ssNamesComplete}/${cs.threads} stackshot stacks reach a thread entry, but its \`complete\` flag says ${cs.complete}/${cs.threads}.\n`,
      );

    // cost block vs outside
    const perSnap = (a, b) => a.map((x, i) => ratio(x, b[i]));
    const checks = [];
    // No ratio (0 / 0: a thread sampled, not stopped, reports 0 and the target sees no stop): n/a.
    const verdict = (r) => (!Number.isFinite(r) ? 'n/a' : r >= 0.5 && r <= 2 ? 'PASS' : 'FAIL');
    const check = (label, r) => checks.push([label, fmtRatio(r), verdict(r)]);
    check(
      'rolling: spinner `pauseNs` / spinner gap seen by the target (median of per-snapshot ratios)',
      med(perSnap(R.spinReported, R.spinTarget)),
    );
    check(
      'rolling: spinner `pauseNs` / same gap minus its wait for a CPU (median)',
      med(perSnap(R.spinReported, R.spinStopped)),
    );
    check(
      'rolling: max `cost.pauseNsMax` (any thread) / max target-side gap (spinner), over all snapshots',
      ratio(max(R.pauseMax), max(R.spinTarget)),
    );
    check(
      'rolling: `cost.pauseNsMax` (any thread) / target-side gap (spinner) (median of per-snapshot ratios)',
      med(perSnap(R.pauseMax, R.spinTarget)),
    );
    check(
      'consistent: spinner `pauseNs` / spinner gap seen by the target (median)',
      med(perSnap(C.spinReported, C.spinTarget)),
    );
    check(
      'consistent: spinner `pauseNs` / same gap minus its wait for a CPU (median)',
      med(perSnap(C.spinReported, C.spinStopped)),
    );
    check(
      'consistent: `cost.pauseNsMax` (any thread) / target-side gap (spinner) (median)',
      med(perSnap(C.pauseMax, C.spinTarget)),
    );
    check('snapshotSync: `cost.totalNs` / wall measured around the call (median)', med(perSnap(R.totalNs, R.wall)));
    check(
      'snapshot() async: `cost.totalNs` / wall around the await (median)',
      med(perSnap(ss.async.totalNs, ss.async.wall)),
    );
    check(
      'snapshot() async: spinner `pauseNs` / target-side gap (median)',
      med(perSnap(ss.async.spinReported, ss.async.spinTarget)),
    );
    // the fresh process takes 2 snapshots inside one window: compare the longer of its 2 spinner pauses with the longest stop gap
    const coldSpin = (run) =>
      Math.max(run.result.pauses[target.spinTid] ?? NaN, run.result.warmPauses?.[target.spinTid] ?? NaN);
    check(
      'fresh process: spinner `pauseNs` (longer of its 2 snapshots) / longest stop gap seen by the target (median)',
      med(cold.runs.map((run, i) => (run.ok ? ratio(coldSpin(run), cold.spinTarget[i]) : NaN))),
    );
    check(
      'fresh process: same / that gap minus its wait for a CPU (median)',
      med(cold.runs.map((run, i) => (run.ok ? ratio(coldSpin(run), cold.spinStopped[i]) : NaN))),
    );
    check(
      'fresh process: `cost.totalNs` / wall around its first snapshotSync (median)',
      med(coldRes.map((x) => ratio(x.cost.totalNs, x.wallNs))),
    );
    const within2 = perSnap(R.spinReported, R.spinTarget).filter((x) => x >= 0.5 && x <= 2).length;
    console.log("### Does each snapshot's own `cost` agree with what the bench measures from outside? (within 2×)\n");
    table(['check', 'ratio', 'result'], checks);
    console.log(
      `(rolling, per snapshot: ${within2}/${R.spinReported.length} spinner pauses within 2× of the target-side gap. \`pauseNsMax\` covers every thread, the target sees only the spinner: in rolling mode a blocked thread with a longer pause makes that ratio large without either figure being wrong.)\n`,
    );

    results.main = {
      threads: target.threads,
      depth: 20,
      stackshot: summarize({ rolling: R, consistent: C, captureOnly: ss.capture, rollingPtrace: P, async: ss.async }),
      rollingSpinnerCapture: R.spinCapture,
      rollingPauseNs: med(rollingPause),
      cold: {
        symbolizeNs: med(coldRes.map((x) => x.cost.symbolizeNs)),
        totalNs: med(coldRes.map((x) => x.cost.totalNs)),
        loadNs: med(coldRes.map((x) => x.loadNs)),
        targetPauseNs: med(cold.spinTarget),
        runs: coldRes.length,
      },
      cli: { wallNs: med(cli.wall), p90WallNs: p90(cli.wall), targetPauseNs: med(cli.spinTarget), errors: cli.errors },
      euStack: {
        wallNs: med(eu.wall),
        p90WallNs: p90(eu.wall),
        targetPauseNs: med(eu.spinTarget),
        stoppedNs: med(eu.spinStopped),
        p90TargetPauseNs: p90(eu.spinTarget),
        completeness: ce,
        byKind: byEu,
        runs: eu.wall.length,
        errors: eu.errors,
      },
      gdb: {
        wallNs: med(gdbAcc.wall),
        targetPauseNs: med(gdbAcc.spinTarget),
        completeness: cg,
        byKind: byGdb,
        runs: gdbAcc.wall.length,
        errors: gdbAcc.errors,
      },
      stackshotCompleteness: cs,
      stackshotByKind: bySs,
      ratios: {
        wallVsEuStack: rWallEu,
        pauseVsEuStack: rPauseEu,
        stoppedVsEuStack: ratio(med(R.spinStopped), med(eu.spinStopped)),
        reportedPauseVsEuStackTargetPause: rPauseEuRep,
        cliVsEuStack: rCliEu,
        wallVsGdb: ratio(med(R.wall), med(gdbAcc.wall)),
        pauseVsGdb: ratio(med(R.spinTarget), med(gdbAcc.spinTarget)),
      },
      checks: checks.map(([label, r, res]) => ({ label, ratio: r, result: res })),
    };
  } finally {
    target.stop();
  }
}

function summarize(groups) {
  const out = {};
  for (const [name, a] of Object.entries(groups)) {
    out[name] = {};
    for (const [k, v] of Object.entries(a)) {
      if (Array.isArray(v) && v.length && typeof v[0] === 'number')
        out[name][k] = { median: med(v), p90: p90(v), max: max(v), n: v.length };
    }
  }
  return out;
}

// ------------------------------------------------------------------ section 2: scaling

async function scalingSection() {
  const configs = [
    { threads: 2, depth: 20 },
    { threads: 8, depth: 20 },
    { threads: 32, depth: 20 },
    { threads: 128, depth: 20 },
    { threads: 8, depth: 10 },
    { threads: 8, depth: 100 },
    { threads: 8, depth: 1000 },
  ];
  const start = elapsed() / BUDGET_MS;
  const end = 0.72;
  console.log(
    `## Scaling (bench/target.c; threads = main + spinner + workers; ${CFG.scaleRounds} interleaved rounds × ${Math.max(3, CFG.perRound >> 1)} snapshots per schedule, eu-stack once per round, gdb ${CFG.scaleGdb}× per row)\n`,
  );
  const rowsSs = [];
  const rowsCmp = [];
  results.scaling = [];
  for (const [ci, c] of configs.entries()) {
    // even shares of the section's budget, except the last row (gdb ≈ 30 s at depth 1000)
    const share = ci === configs.length - 1 ? end : start + ((end - start) * 0.6 * (ci + 1)) / (configs.length - 1);
    const target = await startCTarget({ workers: c.threads - 2, depth: c.depth });
    try {
      for (let i = 0; i < 6; i++) snap(target.pid, { schedule: i % 2 ? 'consistent' : 'rolling' });
      const R = newAcc();
      const C = newAcc();
      const eu = newToolAcc();
      const g = newToolAcc();
      const euFrames = c.depth >= 200 ? 4096 : 0;
      for (let r = 0; r < CFG.scaleRounds; r++) {
        if (r >= 2 && pastShare(share)) {
          cut.push(`scaling ${c.threads}×${c.depth}: ${r} of ${CFG.scaleRounds} rounds (time budget)`);
          break;
        }
        for (let k = 0; k < Math.max(3, CFG.perRound >> 1); k++) measureSnapshot(target, { schedule: 'rolling' }, R);
        for (let k = 0; k < Math.max(3, CFG.perRound >> 1); k++) measureSnapshot(target, { schedule: 'consistent' }, C);
        measureTool(target, () => tools.euStack(target.pid, euFrames), eu);
        // gdb needs ≈ 30 s for 8 threads 1000 deep: once in a full run, never in a quick one
        let gdbRuns = c.depth >= 1000 ? (CFG.gdbDeep ? 1 : 0) : CFG.scaleGdb;
        if (c.threads >= 128) gdbRuns = Math.min(gdbRuns, 1);
        const left = share * BUDGET_MS - elapsed();
        if (r < gdbRuns && c.depth >= 1000 && left < 45_000) {
          if (r === 0)
            cut.push(`gdb at depth ${c.depth}: skipped (≈ 30 s; ${Math.round(left / 1000)} s of budget left)`);
          gdbRuns = 0;
        }
        // gdb is killed at 60 s (or when the row's budget runs out, at least 20 s): a killed gdb is reported as an error
        if (r < gdbRuns)
          measureTool(target, () => tools.gdb(target.pid, Math.round(Math.max(20_000, Math.min(60_000, left)))), g);
      }
      const cs = completeSummary(fromShot(R.last));
      const euOk = eu.runs.filter((x) => x.ok);
      const gOk = g.runs.filter((x) => x.ok);
      const ce = euOk.length
        ? completeSummary(fromNames(euOk[euOk.length - 1].threads))
        : { threads: 0, complete: 0, framesMedian: NaN };
      const cg = gOk.length
        ? completeSummary(fromNames(gOk[gOk.length - 1].threads, true))
        : { threads: 0, complete: 0, framesMedian: NaN };
      const gdbCell = (x) => (g.wall.length ? x : 'not measured (gdb takes ≈ 30 s here: full run with time left only)');
      const label = `${c.threads} thr × depth ${c.depth}`;
      rowsSs.push([
        label,
        dur(med(R.wall)),
        dur(med(C.wall)),
        dur(med(R.pause)),
        `${dur(med(R.spinTarget))} (${dur(med(R.spinStopped))})`,
        dur(med(C.pause)),
        `${dur(med(C.spinTarget))} (${dur(med(C.spinStopped))})`,
        bytes(med(R.bytes)),
        dur(med(R.walkPerFrame)),
        dur(med(R.symPerFrame)),
        `${cs.framesMedian} (${cs.complete}/${cs.threads} complete)`,
      ]);
      rowsCmp.push([
        label + (euFrames ? ` (eu-stack -n ${euFrames})` : ''),
        dur(med(eu.wall)),
        `${dur(med(eu.spinTarget))} (${dur(med(eu.spinStopped))})`,
        `${ce.framesMedian} (${ce.complete}/${ce.threads})`,
        gdbCell(dur(med(g.wall))),
        gdbCell(dur(med(g.spinTarget))),
        gdbCell(`${cg.framesMedian} (${cg.complete}/${cg.threads})`),
        fmtRatio(ratio(med(R.wall), med(eu.wall))),
        `${fmtRatio(ratio(med(R.spinTarget), med(eu.spinTarget)))} (${fmtRatio(ratio(med(R.spinStopped), med(eu.spinStopped)))})`,
        fmtRatio(ratio(med(R.wall), med(g.wall))),
        fmtRatio(ratio(med(R.spinTarget), med(g.spinTarget))),
      ]);
      results.scaling.push({
        ...c,
        stackshot: summarize({ rolling: R, consistent: C }),
        completeness: { stackshot: cs, euStack: ce, gdb: cg },
        euStack: { wallNs: med(eu.wall), targetPauseNs: med(eu.spinTarget), errors: eu.errors },
        gdb: { wallNs: med(g.wall), targetPauseNs: med(g.spinTarget), errors: g.errors },
      });
      if (eu.errors.length || g.errors.length)
        console.log(`(${label}: eu-stack errors: ${eu.errors[0] ?? 'none'}; gdb errors: ${g.errors[0] ?? 'none'})`);
    } finally {
      target.stop();
    }
  }
  console.log('### stackshot (medians)\n');
  table(
    [
      'target',
      'snapshot wall, rolling',
      'snapshot wall, consistent',
      'pause/thread reported, rolling',
      'pause seen by target, rolling (minus CPU wait)',
      'pause/thread reported, consistent',
      'pause seen by target, consistent (minus CPU wait)',
      'bytes copied/snapshot',
      'walk/frame',
      'symbolize/frame (warm)',
      'frames/thread',
    ],
    rowsSs,
  );
  console.log(
    '### eu-stack and gdb on the same targets (medians; ratios are stackshot in-process warm rolling / tool)\n',
  );
  table(
    [
      'target',
      'eu-stack wall',
      'eu-stack pause (target; minus CPU wait)',
      'eu-stack frames/thread (complete)',
      'gdb wall',
      'gdb pause (target)',
      'gdb frames/thread (complete)',
      'wall ss/eu',
      'pause ss/eu (minus CPU wait)',
      'wall ss/gdb',
      'pause ss/gdb',
    ],
    rowsCmp,
  );
}

// ------------------------------------------------------------------ section 3: node and python targets

/** One runtime target's rounds: fresh processes (cache off, filled), the CLI, eu-stack, warm snapshots. */
function measureRuntime(t, share, name, cacheDir) {
  const acc = { cli: [], euWall: [], warm: [], pause: [], walkPerFrame: [], errs: [], off: [], filled: [] };
  let lastShot = null;
  let lastEu = null;
  const cold = (cache, into) => {
    const k = tools.stackshotCold(t.pid, 'rolling', { cache, naming: true });
    if (k.ok) into.push(k.result);
    else
      acc.errs.push(
        `fresh process (cache ${cache === 'off' ? 'off' : 'filled'}): ${k.stderr.trim().split('\n').pop()}`,
      );
  };
  tools.stackshotCold(t.pid, 'rolling', { cache: cacheDir }); // fills the cache: not counted
  for (let r = 0; r < CFG.nodeRounds; r++) {
    if (r >= 3 && pastShare(share)) {
      cut.push(`${name}: ${r} of ${CFG.nodeRounds} rounds (time budget)`);
      break;
    }
    cold('off', acc.off);
    cold(cacheDir, acc.filled);
    const c = tools.stackshotCli(t.pid);
    if (c.ok) acc.cli.push(c.wallNs);
    else acc.errs.push(`CLI: ${c.stderr.trim().split('\n').pop()}`);
    const e = tools.euStack(t.pid);
    if (e.ok) {
      acc.euWall.push(e.wallNs);
      lastEu = e;
    } else acc.errs.push(`eu-stack: ${e.stderr.trim().split('\n').pop()}`);
    for (let k = 0; k < 3; k++) {
      const t0 = process.hrtime.bigint();
      lastShot = snap(t.pid, { schedule: 'rolling' });
      acc.warm.push(Number(process.hrtime.bigint() - t0));
      for (const th of lastShot.threads) if (!th.failure) acc.pause.push(th.pauseNs);
      const frames = lastShot.threads.reduce((n, th) => n + th.frames.length, 0);
      if (frames > 0) acc.walkPerFrame.push(lastShot.cost.walkNs / frames);
    }
  }
  return { ...acc, lastShot, lastEu };
}

async function nodeSection() {
  const { programs, missing } = runtimePrograms();
  if (missing !== null) cut.push(missing);
  console.log(
    `## Node and Python targets (node ${process.version} ${NODE_FLAGS.join(' ')}; ${DEBIAN_PYTHON}; ${CFG.nodeRounds} interleaved rounds: stackshot in a fresh process with the module cache off and filled, the CLI, eu-stack, 3 warm in-process snapshots)\n`,
  );
  console.log(
    "No spinner instruments these processes, so the pause here is stackshot's own `pauseNs`; eu-stack's pause is not observable on them.\n",
  );
  const rows = [];
  const coldRows = [];
  results.node = [];
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-cache-'));
  try {
    for (const [i, p] of programs.entries()) {
      const t = await startGrandchild(p.command, p.args);
      try {
        sleepMs(1000); // let V8 tier up and the process settle
        const m = measureRuntime(t, 0.74 + 0.06 * i, p.name, cacheDir);
        const cs = m.lastShot ? completeSummary(fromShot(m.lastShot)) : { threads: 0, complete: 0, framesMedian: NaN };
        const ce = m.lastEu
          ? completeSummary(fromNames(m.lastEu.threads))
          : { threads: 0, complete: 0, framesMedian: NaN };
        const r = ratio(med(m.cli), med(m.euWall));
        rows.push([
          p.name,
          `${dur(med(m.cli))} (${dur(p90(m.cli))})`,
          `${dur(med(m.euWall))} (${dur(p90(m.euWall))})`,
          fmtRatio(r),
          r <= 1 ? 'met' : 'not met',
          dur(med(m.warm)),
          dur(med(m.pause)),
          `${cs.complete}/${cs.threads}, ${cs.framesMedian}`,
          `${ce.complete}/${ce.threads}, ${ce.framesMedian}`,
        ]);
        const cold = coldFigures(m.off, m.filled, med);
        const first = cold.firstSnapshotNs.cacheOff;
        coldRows.push([
          p.name,
          dur(cold.loadNs),
          dur(cold.walkNs),
          dur(cold.modulesNs),
          dur(cold.symbolizeNs),
          `${dur(first)} ${first <= 50e6 ? 'met' : 'not met'}`,
          dur(cold.firstSnapshotNs.cacheFilled),
          `${dur(cold.coldNsPerFrame)} / ${dur(cold.coldDiskCacheNsPerFrame)} / ${dur(cold.warmNsPerFrame)}`,
          dur(cold.pauseNsMax),
          dur(cold.secondTotalNs),
        ]);
        results.node.push({
          program: p.name,
          cold,
          cliWallNs: med(m.cli),
          euStackWallNs: med(m.euWall),
          ratioCliVsEuStack: r,
          warmWallNs: med(m.warm),
          pauseNs: med(m.pause),
          walkNsPerFrame: med(m.walkPerFrame),
          stackshot: cs,
          euStack: ce,
          errors: m.errs,
        });
        if (m.errs.length) console.log(`(${p.name}: ${m.errs.slice(0, 2).join(' / ')})`);
      } finally {
        t.stop();
      }
    }
  } finally {
    fs.rmSync(cacheDir, { recursive: true, force: true });
  }
  console.log(
    'Where a cold snapshot goes: a fresh node process that requires stackshot and takes one snapshot, then a second one (medians; `cost` fields of the snapshots; module cache off unless said). Cold naming as `stackshot bench` defines it (src/benchmark/cold-naming.ts, run in that fresh process): one capture walked and named by a symbolizer of its own, `modulesNs + symbolizeNs` per frame:\n',
  );
  table(
    [
      'process',
      'require("stackshot")',
      'first: `walkNs`',
      'first: `modulesNs` (files parsed; inside walk/symbolize)',
      'first: `symbolizeNs`',
      'first snapshot, cold = `modulesNs` + `symbolizeNs`, module cache off (target ≤ 50 ms)',
      'the same, module cache filled',
      'cold naming per frame: cache off / filled / warm',
      'first: `pauseNsMax`',
      'second snapshot `totalNs`',
    ],
    coldRows,
  );
  table(
    [
      'process',
      'stackshot CLI cold wall, median (p90)',
      'eu-stack wall, median (p90)',
      'CLI / eu-stack',
      'target ≤ 1.0×',
      'stackshot in-process warm wall',
      'pause/thread (reported)',
      'stackshot complete, frames/thread',
      'eu-stack complete, frames/thread',
    ],
    rows,
  );
}

// ------------------------------------------------------------------ section 4: sampling overhead

/**
 * The ways of sampling compared on the same spinner, in the same rounds: stackshot's record (on
 * perf events where allowed), the same forced onto ptrace snapshots (today's path elsewhere), and
 * `perf record --call-graph dwarf` (the kernel-side reference), each at 99 and 999 Hz.
 */
const SAMPLING_MODES = [
  { key: 'none', label: 'no sampling', hz: 0 },
  { key: 'rec99', label: '99 Hz: stackshot record', hz: 99, record: {} },
  { key: 'rec999', label: '999 Hz: stackshot record', hz: 999, record: {} },
  { key: 'ptrace99', label: '99 Hz: stackshot record, capture: ptrace', hz: 99, record: { capture: 'ptrace' } },
  { key: 'perf99', label: '99 Hz: perf record --call-graph dwarf', hz: 99, perf: true },
  { key: 'perf999', label: '999 Hz: perf record --call-graph dwarf', hz: 999, perf: true },
];

async function samplingSection() {
  const hasRecord = typeof lib.record === 'function';
  if (!hasRecord) throw new Error('record is not in dist/ (npm run build:ts)');
  const perfOk = tools.havePerf();
  const modes = SAMPLING_MODES.filter((m) => !m.perf || perfOk);
  const target = await startCTarget({ workers: 8, depth: 20 });
  console.log(
    `## Sampling overhead on the spinner (main target, ${target.threads} threads; up to ${CFG.sampleRounds} rounds × ${CFG.sampleMs} ms per mode, order rotated each round)\n`,
  );
  if (!perfOk)
    console.log('`perf` is missing (Debian: apt-get install linux-perf): the perf record rows are left out.\n');
  try {
    for (let i = 0; i < 10; i++) snap(target.pid, {});
    const perRoundMs = modes.length * CFG.sampleMs + 500;
    const sampleRounds = Math.max(1, Math.min(CFG.sampleRounds, Math.floor((BUDGET_MS - elapsed()) / perRoundMs)));
    if (sampleRounds < CFG.sampleRounds)
      cut.push(`sampling: ${sampleRounds} of ${CFG.sampleRounds} rounds (time budget)`);
    const res = Object.fromEntries(
      modes.map((m) => [
        m.key,
        {
          loopRate: [],
          stolen: [],
          stopped: [],
          stoppedNoWait: [],
          achieved: [],
          perCpuSecond: [],
          loss: [],
          extraStolen: [],
          onCpu: [],
          leaves: new Map(),
        },
      ]),
    );
    for (let r = 0; r < sampleRounds; r++) {
      const order = modes.map((_, i) => modes[(i + r) % modes.length]);
      const round = {};
      for (const m of order) {
        const w = await sampleWindow(target, m, CFG.sampleMs);
        round[m.key] = w;
        const acc = res[m.key];
        acc.loopRate.push(w.loopRate);
        acc.stolen.push(w.stolenFraction);
        acc.stopped.push(w.stoppedFraction);
        acc.stoppedNoWait.push(w.stoppedNoWaitFraction);
        acc.achieved.push(w.achievedHz);
        acc.perCpuSecond.push(w.perCpuSecond);
        if (w.onCpu) acc.onCpu.push(w.onCpu);
        for (const [leaf, n] of w.leaves ?? []) acc.leaves.set(leaf, (acc.leaves.get(leaf) ?? 0) + n);
      }
      for (const m of modes) {
        res[m.key].loss.push(1 - round[m.key].loopRate / round.none.loopRate);
        res[m.key].extraStolen.push(round[m.key].stolenFraction - round.none.stolenFraction);
      }
    }
    const baselineStolen = med(res.none.stolen);
    const busy = baselineStolen > 0.05;
    const verdict = (key, maxLoss, minRate, hz) => {
      const loss = med(res[key].loss);
      const rate = med(res[key].perCpuSecond);
      const rateOk = minRate === undefined || rate >= minRate * hz;
      const what = `loss ${pct(loss)} (≤ ${pct(maxLoss)})${minRate === undefined ? '' : `, ${rate.toFixed(0)} samples per spinner CPU-second (≥ ${(minRate * hz).toFixed(0)})`}`;
      if (busy)
        return `inconclusive: with no sampling the spinner already lost ${pct(baselineStolen)} of its time (machine busy); ${what}`;
      return `${loss <= maxLoss && rateOk ? 'met' : 'not met'}: ${what}`;
    };
    const rows = modes.map((m) => {
      const a = res[m.key];
      return [
        m.label + (a.onCpu.length ? ` (running threads: ${a.onCpu[0]})` : ''),
        m.hz === 0 ? '—' : `${med(a.achieved).toFixed(0)} /s`,
        m.hz === 0 ? '—' : `${med(a.perCpuSecond).toFixed(0)}`,
        `${(med(a.loopRate) / 1e6).toFixed(2)} M loops/s`,
        m.hz === 0 ? '—' : pct(med(a.loss)),
        pct(med(a.stolen)),
        m.hz === 0 ? '—' : pct(med(a.extraStolen)),
        `${pct(med(a.stopped))} (${pct(med(a.stoppedNoWait))})`,
      ];
    });
    table(
      [
        'sampling',
        'samples of the spinner per second (perf record: all threads)',
        'spinner samples per second of its CPU time',
        'spinner loop rate (median)',
        'throughput loss vs no sampling (paired per round, median)',
        'share of time in gaps > 1 µs (target-side)',
        'extra gap time vs no sampling (paired, median)',
        'share of time STOPPED (gaps with a voluntary switch; minus CPU wait)',
      ],
      rows,
    );
    console.log(
      'Loop-rate loss is paired per round against the no-sampling window of the same round. It includes every cause (stops, interrupts and stack copies in the kernel, and CPU taken by the sampler when the two share a CPU). On perf events a running thread is sampled per 1/hz of its own CPU time, as perf record samples: a spinner the busy machine gives half a CPU gets half the samples per wall second, hence the CPU-time column. The figures are only as good as the machine is quiet.\n',
    );
    // Same functions in the same proportions: on-CPU leaf shares, perf events vs ptrace snapshots.
    const shares = (leaves) => {
      const total = [...leaves.values()].reduce((a, b) => a + b, 0);
      return new Map([...leaves].map(([k, n]) => [k, total ? n / total : 0]));
    };
    const a = shares(res.rec99.leaves);
    const b = shares(res.ptrace99.leaves);
    const fns = [...new Set([...a.keys(), ...b.keys()])].sort(
      (x, y) => (b.get(y) ?? 0) + (a.get(y) ?? 0) - (b.get(x) ?? 0) - (a.get(x) ?? 0),
    );
    const maxDiff = Math.max(0, ...fns.map((f) => Math.abs((a.get(f) ?? 0) - (b.get(f) ?? 0))));
    console.log(
      'On-CPU leaf functions at 99 Hz, share of samples: record on perf events vs record on ptrace snapshots (same rounds)\n',
    );
    table(
      ['leaf function', 'perf events', 'ptrace snapshots', 'difference (points)'],
      fns
        .slice(0, 8)
        .map((f) => [
          f,
          pct(a.get(f) ?? 0),
          pct(b.get(f) ?? 0),
          ((a.get(f) ?? 0) - (b.get(f) ?? 0)) * 100 > 0
            ? `+${(((a.get(f) ?? 0) - (b.get(f) ?? 0)) * 100).toFixed(1)}`
            : (((a.get(f) ?? 0) - (b.get(f) ?? 0)) * 100).toFixed(1),
        ]),
    );
    const perfRow = (key) => (res[key] ? `${pct(med(res[key].loss))}` : 'perf missing');
    results.sampling = {
      perfAvailable: perfOk,
      busy,
      modes: Object.fromEntries(
        modes.map((m) => [
          m.key,
          {
            label: m.label,
            hz: m.hz,
            loopRate: med(res[m.key].loopRate),
            loss: med(res[m.key].loss),
            stolenFraction: med(res[m.key].stolen),
            stoppedFraction: med(res[m.key].stopped),
            stoppedNoWaitFraction: med(res[m.key].stoppedNoWait),
            extraStolen: med(res[m.key].extraStolen),
            achievedPerS: med(res[m.key].achieved),
            perCpuSecond: med(res[m.key].perCpuSecond),
            onCpu: res[m.key].onCpu[0],
            raw: { ...res[m.key], leaves: Object.fromEntries(res[m.key].leaves) },
          },
        ]),
      ),
      verdict99: verdict('rec99', 0.005, undefined, 99),
      verdict999: verdict('rec999', 0.03, 0.95, 999),
      proportionsMaxDiffPoints: maxDiff * 100,
      vsPerf: {
        rec99: pct(med(res.rec99.loss)),
        perf99: perfRow('perf99'),
        rec999: pct(med(res.rec999.loss)),
        perf999: perfRow('perf999'),
      },
    };
  } finally {
    target.stop();
  }
}

function runTimeNs(pid, tid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

async function sampleWindow(target, mode, ms) {
  const h0 = target.stats.header();
  const cpu0 = runTimeNs(target.pid, target.spinTid);
  const t0 = process.hrtime.bigint();
  let spinSamples = 0;
  let onCpu;
  const leaves = new Map();
  if (mode.hz === 0) {
    sleepMs(ms);
  } else if (mode.perf) {
    const r = tools.perfRecord(target.pid, mode.hz, ms);
    spinSamples = r.ok ? r.samples : NaN;
  } else {
    const rec = lib.record(target.pid, { hz: mode.hz, durationMs: ms, ...mode.record });
    for await (const shot of rec) {
      for (const t of shot.threads) {
        if (t.tid === target.spinTid) spinSamples++;
        if (t.state !== 'R' || t.frames.length === 0) continue;
        const leaf = t.frames[0].symbol ?? '??';
        leaves.set(leaf, (leaves.get(leaf) ?? 0) + 1);
      }
    }
    onCpu = rec.stats.onCpu;
  }
  const t1 = process.hrtime.bigint();
  const cpuS = (runTimeNs(target.pid, target.spinTid) - cpu0) / 1e9;
  target.stats.settle();
  const h1 = target.stats.header();
  const w = gapsInWindow(target, h0.gapCount, t0, t1);
  const ns = Number(t1 - t0);
  return {
    loopRate: (h1.loops - h0.loops) / (ns / 1e9),
    stolenFraction: w.sumNs / ns,
    stoppedFraction: w.stopSumNs / ns,
    stoppedNoWaitFraction: w.stoppedSumNs / ns,
    achievedHz: spinSamples / (ns / 1e9),
    perCpuSecond: cpuS > 0 ? spinSamples / cpuS : NaN,
    onCpu,
    leaves,
  };
}

// ------------------------------------------------------------------ main

/** The unwinder's own figures (bench/unwind.js): frames per second, and its cost to the target. */
async function unwinderSection() {
  console.log(
    '## Unwinder (test/fixtures/threads.c, 4 workers 1000 frames deep + main; copied stacks unwound in this process)\n',
  );
  const rows = await measureUnwinder(QUICK ? 40 : 200);
  results.unwinder = rows.map(([measure, value, detail, target]) => ({ measure, value, detail, target }));
  table(['measure', 'value', 'detail', 'target'], rows);
}

async function main() {
  const cpus = os.cpus();
  const machine = {
    date: new Date().toISOString(),
    cores: cpus.length,
    cpu: cpus[0]?.model ?? 'unknown CPU',
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    euStack: tools.toolVersion('eu-stack'),
    gdb: tools.toolVersion('gdb'),
    hasRecord: typeof lib.record === 'function',
    loadavg: os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(' '),
  };
  results.machine = machine;
  console.log(`# stackshot bench — ${machine.date}\n`);
  console.log(
    `${machine.cores} × ${machine.cpu}, ${machine.kernel}, node ${machine.node}, ${machine.euStack}, ${machine.gdb}, load average at start ${machine.loadavg}${QUICK ? ' — BENCH_QUICK=1 (smoke run, few rounds)' : ''}\n`,
  );
  const failures = [];
  const cpu0 = cpuStat();
  for (const [name, fn] of [
    ['main', mainSection],
    ['unwinder', unwinderSection],
    ['scaling', scalingSection],
    ['node', nodeSection],
    [
      'coldcli',
      async () => {
        const stillTime = () => !pastShare(0.9);
        const ctx = { table, dur, med, p90, ratio, fmtRatio, rounds: CFG.nodeRounds, stillTime, cut };
        results.coldCli = await coldCliSection(ctx);
      },
    ],
    ['sampling', samplingSection],
  ]) {
    if (!SECTIONS.has(name)) continue;
    try {
      await fn();
    } catch (err) {
      failures.push(name);
      console.log(`## ${name}: not measured: ${err.stack ?? err}\n`);
      results[name] = { error: String(err.message ?? err) };
    }
  }
  // the four goals, side by side
  const m = results.main;
  const goals = [];
  if (m && !m.error) {
    goals.push([
      `per-thread pause (rolling, seen by the target; spinner captured: ${Object.entries(m.rollingSpinnerCapture)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ')}) ≤ 0.25 × eu-stack's`,
      `${dur(m.rollingPauseNs)} vs ${dur(m.euStack.targetPauseNs)}`,
      fmtRatio(m.ratios.pauseVsEuStack),
      m.ratios.pauseVsEuStack <= 0.25 ? 'met' : 'not met',
    ]);
    goals.push([
      '  same with capture: ptrace (perf events refused): no worse than before (≈ 1.1×)',
      `${dur(m.stackshot.rollingPtrace.spinTarget.median)} vs ${dur(m.euStack.targetPauseNs)}`,
      fmtRatio(ratio(m.stackshot.rollingPtrace.spinTarget.median, m.euStack.targetPauseNs)),
      '',
    ]);
    goals.push([
      "  same, both minus the spinner's wait for a CPU after the resume",
      `${dur(m.stackshot.rolling.spinStopped.median)} vs ${dur(m.euStack.stoppedNs)}`,
      fmtRatio(m.ratios.stoppedVsEuStack),
      m.ratios.stoppedVsEuStack <= 0.25 ? 'met' : 'not met',
    ]);
    goals.push([
      "  same, with stackshot's reported median `pauseNs`",
      `${dur(m.stackshot.rolling.pause.median)} vs ${dur(m.euStack.targetPauseNs)}`,
      fmtRatio(m.ratios.reportedPauseVsEuStackTargetPause),
      m.ratios.reportedPauseVsEuStackTargetPause <= 0.25 ? 'met' : 'not met',
    ]);
    goals.push([
      "warm in-process snapshot ≤ 0.1 × eu-stack's wall",
      `${dur(m.stackshot.rolling.wall.median)} vs ${dur(m.euStack.wallNs)}`,
      fmtRatio(m.ratios.wallVsEuStack),
      m.ratios.wallVsEuStack <= 0.1 ? 'met' : 'not met',
    ]);
  }
  for (const n of results.node && !results.node.error ? results.node : []) {
    goals.push([
      `cold CLI snapshot of ${n.program} ≤ 1.0 × eu-stack's wall`,
      `${dur(n.cliWallNs)} vs ${dur(n.euStackWallNs)}`,
      fmtRatio(n.ratioCliVsEuStack),
      n.ratioCliVsEuStack <= 1 ? 'met' : 'not met',
    ]);
  }
  if (Array.isArray(results.coldCli)) goals.push(...coldCliGoals(results.coldCli, { dur, fmtRatio }));
  const s = results.sampling;
  if (s && !s.error) {
    const r99 = s.modes.rec99;
    goals.push([
      `record at 99 Hz: throughput loss ≤ 0.5 % (running threads: ${r99.onCpu})`,
      `${pct(r99.loss)} (loop rate), ${pct(r99.extraStolen)} (extra gap time), ${pct(r99.stoppedFraction)} (time stopped)`,
      '',
      s.verdict99,
    ]);
    goals.push([
      'record at 999 Hz: ≥ 95 % of the rate (per spinner CPU-second), loss ≤ 3 %',
      `${s.modes.rec999.perCpuSecond.toFixed(0)} samples per CPU-second, loss ${pct(s.modes.rec999.loss)}`,
      '',
      s.verdict999,
    ]);
    goals.push([
      'record vs perf record --call-graph dwarf, same run (loss)',
      `99 Hz: ${s.vsPerf.rec99} vs ${s.vsPerf.perf99}; 999 Hz: ${s.vsPerf.rec999} vs ${s.vsPerf.perf999}`,
      '',
      '',
    ]);
    goals.push([
      'profile on perf events = profile on ptrace snapshots (± 5 points per leaf function)',
      `max difference ${s.proportionsMaxDiffPoints.toFixed(1)} points`,
      '',
      s.proportionsMaxDiffPoints <= 5 ? 'met' : 'not met',
    ]);
  }
  for (const u of Array.isArray(results.unwinder) ? results.unwinder : [])
    if (u.target !== '') goals.push([u.measure, u.value, u.detail, u.target]);
  console.log('## Targets (reported, not asserted)\n');
  table(['target', 'measured', 'ratio', 'status'], goals);
  results.goals = goals.map(([target, measured, r, status]) => ({ target, measured, ratio: r, status }));
  if (cut.length)
    console.log(
      `Cut short to stay within the time budget (${BUDGET_MS / 1000} s, BENCH_BUDGET_S): ${cut.join('; ')}.\n`,
    );
  results.cut = cut;
  results.elapsedMs = Date.now() - started;
  results.loadavgAtEnd = os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
  results.cpuShares = cpuShares(cpu0, cpuStat());
  const dir = path.join(__dirname, 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(
    path.join(dir, 'latest.json'),
    JSON.stringify(results, (k, v) => (typeof v === 'bigint' ? String(v) : v), 2) + '\n',
  );
  console.log(
    `bench finished in ${(results.elapsedMs / 1000).toFixed(0)} s (load average at end ${results.loadavgAtEnd}; during the run the CPUs were ${pct(results.cpuShares.busy)} busy, ${pct(results.cpuShares.steal)} stolen by the hypervisor; other processes on the machine count too); raw figures in bench/results/latest.json${failures.length ? `; sections that failed: ${failures.join(', ')}` : ''}`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
