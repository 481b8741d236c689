#!/usr/bin/env node
// Soak test, run by hand (not part of `npm test` or `npm run bench`):
//
//   npm run build:ts && node bench/soak.js [--minutes 2] [--hz 999] [--schedule rolling|consistent|mixed]
//                                         [--no-symbolize] [--interval 10]
//
// Snapshots a 9-thread target (bench/target.c: main, a spinner and 7 workers, 20 frames deep)
// at up to --hz for --minutes, and prints, every --interval seconds, what a leak would show:
// RSS, V8 heap, external/ArrayBuffer memory, open file descriptors and threads of this process,
// and the target's state (no thread may be left stopped or traced). At the end it judges:
//   - RSS stable within 10 % over the run after a warm-up (the first 20 % of the samples),
//   - no growth in fds or threads,
//   - the target alive, no thread stopped (t/T) or traced.
// Exit status 0 when all hold, 1 otherwise.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { startCTarget, sleepMs } = require('./target');

const { snapshotSync } = require(path.join(__dirname, '..', 'dist', 'index.js'));

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  return typeof dflt === 'number' ? Number(v) : v;
}
const MINUTES = arg('minutes', 2);
const HZ = arg('hz', 999);
const SCHEDULE = arg('schedule', 'mixed');
const INTERVAL_S = arg('interval', 10);
const SYMBOLIZE = !process.argv.includes('--no-symbolize');

const mb = (n) => (n / 1048576).toFixed(1);
const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const threadCount = () => fs.readdirSync('/proc/self/task').length;

/** States and tracer pids of every thread of pid: { stopped: [...], traced: [...], threads }. */
function targetState(pid) {
  const stopped = [];
  const traced = [];
  let threads = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      threads++;
      const state = /^State:\s*(\S)/m.exec(s)[1];
      if (state === 't' || state === 'T') stopped.push(`${tid}:${state}`);
      const tracer = Number(/^TracerPid:\s*(\d+)/m.exec(s)[1]);
      if (tracer !== 0) traced.push(`${tid}:${tracer}`);
    } catch {
      /* thread gone */
    }
  }
  return { stopped, traced, threads };
}

async function main() {
  const target = await startCTarget({ workers: 7, depth: 20 });
  const rows = [];
  let failures = 0;
  let problems = [];
  try {
    const period = 1000 / HZ;
    const durationMs = MINUTES * 60_000;
    const t0 = performance.now();
    let next = t0;
    let shots = 0;
    let lastReport = t0;
    let lastShots = 0;
    let pauseMax = 0;
    let slowest = 0;
    const sample = () => {
      const m = process.memoryUsage();
      const st = targetState(target.pid);
      const now = performance.now();
      const row = {
        s: Math.round((now - t0) / 1000),
        shots,
        hz: Math.round(((shots - lastShots) * 1000) / Math.max(1, now - lastReport)),
        rss: m.rss,
        heap: m.heapUsed,
        external: m.external,
        arrayBuffers: m.arrayBuffers,
        fds: fdCount(),
        threads: threadCount(),
        targetThreads: st.threads,
        stopped: st.stopped.length,
        traced: st.traced.length,
      };
      rows.push(row);
      lastReport = now;
      lastShots = shots;
      console.log(
        `${String(row.s).padStart(5)} s  ${String(shots).padStart(7)} shots  ${String(row.hz).padStart(4)} Hz  rss ${mb(row.rss)} MB  heap ${mb(row.heap)} MB  ext ${mb(row.external)} MB  ab ${mb(row.arrayBuffers)} MB  fds ${row.fds}  threads ${row.threads}  target: ${row.targetThreads} threads, ${row.stopped} stopped, ${row.traced} traced`,
      );
      // Between snapshots nothing may be stopped or traced (a resumed thread is running).
      if (st.stopped.length || st.traced.length)
        problems.push(`at ${row.s} s: stopped ${st.stopped.join(',')} traced ${st.traced.join(',')}`);
    };
    console.log(
      `soak: ${MINUTES} min at up to ${HZ} Hz, schedule ${SCHEDULE}, symbolize ${SYMBOLIZE}, target pid ${target.pid} (${target.threads} threads)`,
    );
    sample();
    while (performance.now() - t0 < durationMs) {
      const schedule = SCHEDULE === 'mixed' ? (shots % 10 === 9 ? 'consistent' : 'rolling') : SCHEDULE;
      const a = performance.now();
      try {
        const shot = snapshotSync(target.pid, { schedule, symbolize: SYMBOLIZE });
        pauseMax = Math.max(pauseMax, shot.cost.pauseNsMax);
        if (shot.threads.some((t) => t.failure !== undefined)) failures++;
      } catch (e) {
        failures++;
        if (failures < 5) console.error(`snapshot ${shots} failed: ${e.message}`);
      }
      slowest = Math.max(slowest, performance.now() - a);
      shots++;
      if (performance.now() - lastReport >= INTERVAL_S * 1000) sample();
      next += period;
      const wait = next - performance.now();
      if (wait > 0) sleepMs(wait);
      else if (wait < -100) next = performance.now(); // behind: do not try to catch up in a burst
    }
    sample();
    const elapsed = (performance.now() - t0) / 1000;

    // Verdicts.
    const warm = rows.slice(Math.max(1, Math.floor(rows.length * 0.2)));
    const rssMin = Math.min(...warm.map((r) => r.rss));
    const rssMax = Math.max(...warm.map((r) => r.rss));
    const rssDrift = (rssMax - rssMin) / rssMin;
    const fdsGrowth = rows[rows.length - 1].fds - warm[0].fds;
    const threadGrowth = rows[rows.length - 1].threads - warm[0].threads;
    const alive = fs.existsSync(`/proc/${target.pid}`);
    console.log('');
    console.log(
      `snapshots: ${shots} in ${elapsed.toFixed(0)} s (${(shots / elapsed).toFixed(0)} Hz achieved), failed or partial: ${failures}, slowest ${slowest.toFixed(1)} ms, longest pause ${(pauseMax / 1000).toFixed(0)} µs`,
    );
    console.log(
      `rss after warm-up: ${mb(rssMin)}–${mb(rssMax)} MB (${(rssDrift * 100).toFixed(1)} % spread; limit 10 %)`,
    );
    console.log(
      `heap: ${mb(warm[0].heap)} → ${mb(rows[rows.length - 1].heap)} MB; external: ${mb(warm[0].external)} → ${mb(rows[rows.length - 1].external)} MB`,
    );
    console.log(
      `fds: ${rows[0].fds} → ${rows[rows.length - 1].fds}; threads of this process: ${rows[0].threads} → ${rows[rows.length - 1].threads}`,
    );
    if (rssDrift > 0.1) problems.push(`RSS spread ${(rssDrift * 100).toFixed(1)} % > 10 %`);
    if (fdsGrowth > 0) problems.push(`fds grew by ${fdsGrowth}`);
    if (threadGrowth > 0) problems.push(`threads grew by ${threadGrowth}`);
    if (!alive) problems.push('target died');
    if (failures > 0) problems.push(`${failures} snapshots failed or had a failed thread`);
  } finally {
    target.stop();
  }
  if (problems.length) {
    console.log(`\nFAIL:\n  ${problems.join('\n  ')}`);
    process.exitCode = 1;
  } else {
    console.log('\nPASS');
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
