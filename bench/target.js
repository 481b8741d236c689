// Benchmark targets: bench/target.c (compiled with gcc, cached in os.tmpdir()) and Node
// processes. Every target is started as a GRANDCHILD (src/launch/grandchild.ts): libuv reaps
// direct children with waitpid and would steal their ptrace stops.
//
// The C target logs its own stop gaps into a shared file (layout at the top of target.c);
// StatsReader reads it so the pause is measured from the target's side, the same way for
// every tool.
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

// The test fixtures' frame-pointer build (one list for tests and bench).
const FLAGS = require('../test/helpers/fixture-flags.json').fp;
const { startTarget } = require('../dist/launch/grandchild.js');
const CACHE = path.join(os.tmpdir(), 'stackshot-bench');
const RING = 2048;
const HDR = 64;

/** A C source built with the fixtures' frame-pointer flags, cached by source and flags. */
function buildC(source) {
  const hash = crypto
    .createHash('sha1')
    .update(fs.readFileSync(source))
    .update(FLAGS.join(' '))
    .digest('hex')
    .slice(0, 12);
  const out = path.join(CACHE, `${path.basename(source, '.c')}-${hash}`);
  if (!fs.existsSync(out)) {
    fs.mkdirSync(CACHE, { recursive: true });
    execFileSync('gcc', [...FLAGS, source, '-o', `${out}.tmp`], { stdio: 'inherit' });
    fs.renameSync(`${out}.tmp`, out);
  }
  return out;
}

function buildTarget() {
  return buildC(path.join(__dirname, 'target.c'));
}

/**
 * Starts `command args…` as a grandchild (the tests' launcher, src/launch/grandchild.ts); resolves
 * once it printed a line matching `ready`, with { pid, stdout, stop() }.
 */
function startGrandchild(command, args, ready = /^ready$/m, timeoutMs = 20_000) {
  return startTarget(command, args, { ready, timeoutMs });
}

/** The C workload: workers + 2 threads (main, spinner), each `depth` frames deep. */
async function startCTarget({ workers, depth, gapNs = 1000 }) {
  const binary = buildTarget();
  const statsPath = path.join(CACHE, `stats-${process.pid}-${workers}-${depth}-${Date.now()}`);
  const t = await startGrandchild(binary, [
    '--workers',
    String(workers),
    '--depth',
    String(depth),
    '--stats',
    statsPath,
    '--gap-ns',
    String(gapNs),
  ]);
  const kinds = new Map(); // tid -> kind
  let spinTid = 0;
  for (const m of t.stdout.matchAll(/^thread (\S+) (\d+) (\S+)$/gm)) {
    kinds.set(Number(m[2]), m[1]);
    if (m[1] === 'spin') spinTid = Number(m[2]);
  }
  const clock = /^clock (.*)$/m.exec(t.stdout)?.[1] ?? '';
  const stats = new StatsReader(statsPath);
  return {
    ...t,
    kinds,
    spinTid,
    clock,
    stats,
    workers,
    depth,
    threads: workers + 2,
    stop() {
      t.stop();
      stats.close();
      try {
        fs.unlinkSync(statsPath);
      } catch {
        /* gone */
      }
    },
  };
}

const sleepBuf = new Int32Array(new SharedArrayBuffer(4));
/** Blocks the JS thread for ms (fractions allowed) without spinning. */
function sleepMs(ms) {
  if (ms > 0) Atomics.wait(sleepBuf, 0, 0, ms);
}

class StatsReader {
  constructor(file) {
    this.fd = fs.openSync(file, 'r');
    this.buf = Buffer.alloc((HDR + 4 * RING) * 8);
    this.hdr = Buffer.alloc(HDR * 8);
  }
  close() {
    try {
      fs.closeSync(this.fd);
    } catch {
      /* closed */
    }
  }
  header() {
    fs.readSync(this.fd, this.hdr, 0, this.hdr.length, 0);
    const u = (i) => Number(this.hdr.readBigUInt64LE(i * 8));
    return { loops: u(2), ticksPerUs: u(3) / 1000, thresholdNs: u(4), gapCount: u(5), maxGapNs: u(6), sumGapNs: u(7) };
  }
  /** Waits (≤ maxMs) until the spinner has published progress twice: it runs again and has logged any gap. */
  settle(maxMs = 1000) {
    const start = this.header().loops;
    const deadline = Date.now() + maxMs;
    let seen = 0;
    let last = start;
    while (Date.now() < deadline) {
      const l = this.header().loops;
      if (l !== last) {
        seen++;
        last = l;
        if (seen >= 2) return true;
      }
      sleepMs(0.05);
    }
    return false;
  }
  /** Gaps logged since count `from`: [{ start, end (BigInt, CLOCK_MONOTONIC ns), ns, voluntary, involuntary }]. */
  gapsSince(from) {
    fs.readSync(this.fd, this.buf, 0, this.buf.length, 0);
    const count = Number(this.buf.readBigUInt64LE(5 * 8));
    const gaps = [];
    for (let n = Math.max(from, count - RING); n < count; n++) {
      const off = (HDR + 4 * (n % RING)) * 8;
      const end = this.buf.readBigUInt64LE(off);
      const ns = Number(this.buf.readBigUInt64LE(off + 8));
      const sw = this.buf.readBigUInt64LE(off + 16);
      const runDelay = Number(this.buf.readBigUInt64LE(off + 24));
      gaps.push({
        end,
        start: end - BigInt(ns),
        ns,
        voluntary: Number(sw >> 32n),
        involuntary: Number(sw & 0xffffffffn),
        runDelay,
      });
    }
    return { count, gaps, lost: Math.max(0, count - RING - from) };
  }
}

/**
 * The spinner's gaps that STARTED inside [t0, t1]: `stopNs` is the longest gap that contains a
 * voluntary context switch (the spinner was stopped: the tool's pause, including any wait for
 * a CPU after the resume); `anyNs` the longest gap of any kind (also preemption by the tool's
 * or anyone's CPU use); `sumNs` all gap time; `stops` how many stop gaps.
 */
function gapsInWindow(target, before, t0, t1) {
  const { gaps } = target.stats.gapsSince(before);
  let stopNs = 0;
  let anyNs = 0;
  let sumNs = 0;
  let stops = 0;
  let stopSumNs = 0;
  let stoppedNs = 0; // longest stop gap minus its wait for a CPU
  let stoppedSumNs = 0;
  for (const g of gaps) {
    // A gap counts when it overlaps the window; only its part after t0 is the tool's doing (a
    // thread preempted just before t0 and then stopped while off the CPU logs one long gap).
    if (g.start <= t1 && g.end >= t0) {
      const ns = g.start >= t0 ? g.ns : Number(g.end - t0);
      anyNs = Math.max(anyNs, ns);
      sumNs += ns;
      if (g.voluntary > 0) {
        stops++;
        stopSumNs += ns;
        stopNs = Math.max(stopNs, ns);
        const stopped = Math.max(0, ns - g.runDelay);
        stoppedSumNs += stopped;
        stoppedNs = Math.max(stoppedNs, stopped);
      }
    }
  }
  return { stopNs, anyNs, sumNs, stops, stopSumNs, stoppedNs, stoppedSumNs };
}

/** Runs fn() and returns { value, wallNs, targetPauseNs (stop gap), targetStoppedNs (stop gap minus run-queue wait), targetAnyGapNs, targetGapSumNs, stops }. */
function withTargetWindow(target, fn) {
  const before = target.stats.header().gapCount;
  const t0 = process.hrtime.bigint();
  const value = fn();
  const t1 = process.hrtime.bigint();
  const settled = target.stats.settle();
  const w = gapsInWindow(target, before, t0, t1);
  // Not settled: the spinner did not get a CPU back within 1 s (a very busy machine); its gap
  // is not logged yet, so the pause is unknown (NaN), not 0.
  const unknown = !settled && w.stops === 0;
  return {
    value,
    wallNs: Number(t1 - t0),
    targetPauseNs: unknown ? NaN : w.stopNs,
    targetStoppedNs: unknown ? NaN : w.stoppedNs,
    targetAnyGapNs: unknown ? NaN : w.anyNs,
    targetGapSumNs: w.sumNs,
    stops: unknown ? NaN : w.stops,
    settled,
  };
}

module.exports = {
  buildC,
  buildTarget,
  startGrandchild,
  startCTarget,
  StatsReader,
  withTargetWindow,
  gapsInWindow,
  sleepMs,
  CACHE,
};
