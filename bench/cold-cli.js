// Section of `npm run bench`: the one-shot CLI (`stackshot <pid> --json`: the package's bin, run by
// its shebang) from a fresh process, with an empty module cache and with one filled by a previous
// run, next to eu-stack and to `node -e 0` (node's own start-up: the floor no change to stackshot
// can go below), in interleaved rounds on the 10-thread C target and on an idle and a busy node
// process. stackshot's own share is the CLI's wall minus node -e 0's.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const tools = require('./tools.js');
const { DEMO_NODE_FLAGS } = require('../dist/demo/run-demo.js');
const { startCTarget, startGrandchild, sleepMs } = require('./target.js');

/** Acceptance (issue 17): CLI wall / eu-stack wall, per target kind and cache state. */
const LIMITS = {
  c: { filled: 5, empty: Infinity },
  node: { filled: 1, empty: 2 },
};

function timed(cmd, args, env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], env, encoding: 'utf8' });
  return { wallNs: Number(process.hrtime.bigint() - t0), ok: r.status === 0, stderr: r.stderr ?? '' };
}

/**
 * The floor's environment: the one node gets from the launcher (bin/stackshot.js starts node
 * without NODE_EXTRA_CA_CERTS, whose certificates node 20 parses before anything else).
 */
function floorEnv(env) {
  const out = { ...env };
  delete out.NODE_EXTRA_CA_CERTS;
  return out;
}

function cliEnv(cacheDir) {
  const env = { ...process.env, STACKSHOT_CACHE_DIR: cacheDir, DEBUGINFOD_URLS: '', LC_ALL: 'C' };
  delete env.STACKSHOT_CACHE;
  delete env.NODE_OPTIONS;
  return env;
}

/** The rounds on one target: each round runs all four, in an order rotated per round. */
function measure(pid, rounds, scratch, stillTime) {
  const filled = fs.mkdtempSync(path.join(scratch, 'filled-'));
  timed(tools.BIN, [String(pid), '--json'], cliEnv(filled)); // fills it
  const w = { floor: [], eu: [], empty: [], filled: [], floorAsSet: [] };
  const errors = [];
  const runs = {
    floor: () => timed(process.execPath, ['-e', '0'], floorEnv(cliEnv(filled))),
    eu: () => tools.euStack(pid),
    empty: () => {
      const dir = fs.mkdtempSync(path.join(scratch, 'empty-'));
      try {
        return timed(tools.BIN, [String(pid), '--json'], cliEnv(dir));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
    filled: () => timed(tools.BIN, [String(pid), '--json'], cliEnv(filled)),
  };
  // What node alone costs where the environment names extra certificates (what the launcher saves).
  if (process.env.NODE_EXTRA_CA_CERTS !== undefined) {
    runs.floorAsSet = () => timed(process.execPath, ['-e', '0'], cliEnv(filled));
  }
  const order = Object.keys(runs);
  let done = 0;
  for (let r = 0; r < rounds && (r < 2 || stillTime()); r++, done++) {
    for (let k = 0; k < order.length; k++) {
      const name = order[(k + r) % order.length];
      const res = runs[name]();
      if (res.ok) w[name].push(res.wallNs);
      else errors.push(`${name}: ${res.stderr.trim().split('\n').pop()}`);
    }
  }
  return { w, errors, rounds: done };
}

async function coldCliSection(ctx) {
  const { table, dur, med, p90, ratio, fmtRatio, rounds, stillTime, cut } = ctx;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-cache-'));
  const nodeFlags = DEMO_NODE_FLAGS; // JS names in a perf map, V8's logs aside
  const targets = [
    { name: '10-thread C target', kind: 'c', start: () => startCTarget({ workers: 8, depth: 20 }) },
    {
      name: 'idle node process',
      kind: 'node',
      start: () =>
        startGrandchild(process.execPath, [...nodeFlags, '-e', "console.log('ready'); setInterval(() => {}, 1000);"]),
    },
    {
      name: 'busy node process',
      kind: 'node',
      start: () => startGrandchild(process.execPath, [...nodeFlags, '-e', "console.log('ready'); while (true) {}"]),
    },
  ];
  console.log(
    `## Cold CLI: \`stackshot <pid> --json\` (the bin, by its shebang) from a fresh process, module cache empty and filled by one previous run, against eu-stack and \`node -e 0\` (up to ${rounds} interleaved rounds per target)\n`,
  );
  const out = [];
  const rows = [];
  try {
    for (const t of targets) {
      const target = await t.start();
      try {
        if (t.kind === 'node') sleepMs(1000); // let V8 tier up and the process settle
        const m = measure(target.pid, rounds, scratch, stillTime);
        if (m.rounds < rounds) cut.push(`cold CLI ${t.name}: ${m.rounds} of ${rounds} rounds (time budget)`);
        const floor = med(m.w.floor);
        const eu = med(m.w.eu);
        const r = {
          target: t.name,
          kind: t.kind,
          rounds: m.rounds,
          nodeFloorNs: floor,
          nodeAsSetNs: m.w.floorAsSet.length ? med(m.w.floorAsSet) : undefined,
          euStackNs: eu,
          emptyNs: med(m.w.empty),
          filledNs: med(m.w.filled),
          ownEmptyNs: med(m.w.empty) - floor,
          ownFilledNs: med(m.w.filled) - floor,
          errors: m.errors,
        };
        r.ratioEmpty = ratio(r.emptyNs, eu);
        r.ratioFilled = ratio(r.filledNs, eu);
        r.limits = LIMITS[t.kind];
        out.push(r);
        const cell = (v) => `${dur(med(v))} (${dur(p90(v))})`;
        const asSet = m.w.floorAsSet.length ? `; ${cell(m.w.floorAsSet)} with NODE_EXTRA_CA_CERTS` : '';
        rows.push([
          t.name,
          `${cell(m.w.floor)}${asSet}`,
          cell(m.w.eu),
          `${cell(m.w.empty)} = ${fmtRatio(r.ratioEmpty)}`,
          `${cell(m.w.filled)} = ${fmtRatio(r.ratioFilled)}`,
          `${dur(r.ownEmptyNs)} = ${fmtRatio(ratio(r.ownEmptyNs, eu))}`,
          `${dur(r.ownFilledNs)} = ${fmtRatio(ratio(r.ownFilledNs, eu))}`,
        ]);
        if (m.errors.length) console.log(`(${t.name}: ${m.errors.slice(0, 2).join(' / ')})`);
      } finally {
        target.stop();
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  table(
    [
      'target',
      '`node -e 0` (floor), median (p90)',
      'eu-stack -p',
      'CLI, empty cache = / eu-stack',
      'CLI, filled cache = / eu-stack',
      "stackshot's own share, empty (CLI − node -e 0) = / eu-stack",
      "stackshot's own share, filled",
    ],
    rows,
  );
  return out;
}

/** The section's rows of the bench's targets table. */
function coldCliGoals(results, { dur, fmtRatio }) {
  const goals = [];
  for (const r of results) {
    for (const cache of ['filled', 'empty']) {
      const limit = r.limits[cache];
      if (!Number.isFinite(limit)) continue;
      const value = cache === 'filled' ? r.ratioFilled : r.ratioEmpty;
      goals.push([
        `cold CLI, ${cache} module cache, ${r.target} ≤ ${limit} × eu-stack's wall (node -e 0 alone: ${dur(r.nodeFloorNs)})`,
        `${dur(cache === 'filled' ? r.filledNs : r.emptyNs)} vs ${dur(r.euStackNs)}`,
        fmtRatio(value),
        value <= limit ? 'met' : 'not met',
      ]);
    }
  }
  return goals;
}

module.exports = { coldCliSection, coldCliGoals };
