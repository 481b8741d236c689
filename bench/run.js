// npm run bench: what a snapshot costs on the 9-thread target (8 workers 20 deep + main).
// Medians over many snapshots; the machine is noisy, so ratios and medians, never single runs.
'use strict';
const os = require('node:os');
const { snapshotSync } = require('../dist/index.js');
const { startTarget } = require('./target.js');

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

function quantile(values, q) {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const us = (ns) => (ns / 1000).toFixed(1);
const ms = (ns) => (ns / 1e6).toFixed(3);

function measure(pid, options) {
  for (let i = 0; i < 20; i++) snapshotSync(pid, options); // warm: caches, arenas, page faults
  const wall = [];
  const pause = [];
  const symbolize = [];
  const walk = [];
  let frames = 0;
  for (let i = 0; i < ROUNDS; i++) {
    const t0 = process.hrtime.bigint();
    const shot = snapshotSync(pid, options);
    wall.push(Number(process.hrtime.bigint() - t0));
    for (const t of shot.threads) {
      pause.push(t.pauseNs);
      frames += t.frames.length;
    }
    symbolize.push(shot.cost.symbolizeNs);
    walk.push(shot.cost.walkNs);
  }
  return { wall, pause, symbolize, walk, framesPerSnapshot: frames / ROUNDS };
}

async function main() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`stackshot bench — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${cpu}, Linux ${os.release()}, node ${process.version}`);
  console.log(`target: test/fixtures/threads.c --workers 8 --depth 20 --worker-leaf sleep (9 threads blocked in nanosleep, frame pointers), ${ROUNDS} snapshots per row\n`);
  const target = await startTarget(['--workers', '8', '--depth', '20', '--worker-leaf', 'sleep']);
  try {
    const rows = [];
    for (const schedule of ['rolling', 'consistent']) {
      const r = measure(target.pid, { schedule });
      rows.push([`in-process snapshot, symbolized, ${schedule}`, `${ms(quantile(r.wall, 0.5))} ms`, `${ms(quantile(r.wall, 0.9))} ms`, schedule === 'rolling' ? '≤ 1 ms' : '']);
      rows.push([`per-thread pause, ${schedule}`, `${us(quantile(r.pause, 0.5))} µs`, `${us(quantile(r.pause, 0.9))} µs (max ${us(Math.max(...r.pause))})`, schedule === 'rolling' ? '≤ 40 µs' : '']);
      if (schedule === 'rolling') {
        rows.push(['walk (native, all threads)', `${us(quantile(r.walk, 0.5))} µs`, `${us(quantile(r.walk, 0.9))} µs`, '']);
        rows.push(['symbolize (warm, all frames)', `${us(quantile(r.symbolize, 0.5))} µs`, `${us(quantile(r.symbolize, 0.9))} µs`, '']);
        rows.push(['frames per snapshot', r.framesPerSnapshot.toFixed(0), '', '']);
      }
    }
    console.log('| measure | median | p90 | target |');
    console.log('| --- | --- | --- | --- |');
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  } finally {
    target.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
