// node bench/v8-frames.js — what naming JavaScript frames from V8's memory costs: warm
// snapshots of a busy node process (a 30-deep JS recursion that spins, plus node's own idle
// threads) with runtime frames named and without, interleaved; medians of the snapshot's
// total time and of the longest per-thread pause. Target: named ≤ 2 × unnamed, same pause.
'use strict';
const { startGrandchild } = require('./target.js');
const { snapshotSync } = require('../dist/index.js');

const ROUNDS = Number(process.env.BENCH_V8_ROUNDS ?? 200);
const BUSY = [
  'function spin(n) { let x = 0; for (let i = 0; i < 1e6; i++) x += i % 7; return n === 0 ? x : 0; }',
  'function deep(d) { return d === 0 ? spin(0) : deep(d - 1) + 1; }',
  'function loop() { for (;;) deep(30); }',
  "console.log('ready'); loop();",
].join('\n');

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const t = await startGrandchild(process.execPath, ['-e', BUSY]);
  try {
    const on = { total: [], pause: [], js: [] };
    const off = { total: [], pause: [] };
    for (let i = 0; i < 5; i++) snapshotSync(t.pid); // warm: modules parsed, V8 metadata read
    for (let r = 0; r < ROUNDS; r++) {
      const a = snapshotSync(t.pid, { runtimeFrames: true });
      on.total.push(a.cost.totalNs);
      on.pause.push(a.cost.pauseNsMax);
      on.js.push(a.threads[0].frames.filter((f) => f.kind === 'js').length);
      const b = snapshotSync(t.pid, { runtimeFrames: false });
      off.total.push(b.cost.totalNs);
      off.pause.push(b.cost.pauseNsMax);
    }
    const us = (ns) => `${(ns / 1000).toFixed(0)} µs`;
    console.log(
      `| warm snapshot of a busy node (${ROUNDS} rounds, medians) | total | max pause/thread | JS frames named |`,
    );
    console.log('| --- | --- | --- | --- |');
    console.log(`| runtime frames named | ${us(median(on.total))} | ${us(median(on.pause))} | ${median(on.js)} |`);
    console.log(`| without (runtimeFrames: false) | ${us(median(off.total))} | ${us(median(off.pause))} | 0 |`);
    console.log(`\nnamed / unnamed: ${(median(on.total) / median(off.total)).toFixed(2)}× (target ≤ 2×)`);
  } finally {
    t.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
