#!/usr/bin/env node
// Warm in-process snapshots of this tree against another revision's, in one node process, on
// the bench target (10 threads, depth 20): #17 asks that they be "no slower than today", and
// two runs of `npm run bench` differ by more than that question's answer.
//
//   npm run build && node bench/warm-ab.js <rev> [rounds]     (rounds: default 400)
//
// <rev> is exported with `git archive` into os.tmpdir()/stackshot-warm-ab/<commit>/ (no
// worktree is registered), its node_modules linked to this tree's, and built there once
// (`npm run build`). After 30 warm-up rounds, the trees take turns, BLOCK snapshotSync calls
// each (after SETTLE uncounted ones). Prints medians of the wall around the call and of each
// snapshot's own cost.walkNs and cost.symbolizeNs, and this tree's capture: 'ptrace' too.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { startCTarget } = require('./target');

const ROOT = path.join(__dirname, '..');
// Snapshots per tree in a row, after SETTLE more that are not counted.
const BLOCK = 40;
const SETTLE = 5;

/** The revision's tree, built; reused when built before. */
function builtTree(rev) {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const dir = path.join(os.tmpdir(), 'stackshot-warm-ab', commit);
  const done = path.join(dir, '.built');
  if (fs.existsSync(done)) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const tar = execFileSync('git', ['archive', '--format=tar', commit], { cwd: ROOT, maxBuffer: 1 << 30 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  console.error(`warm-ab: building ${commit.slice(0, 12)} in ${dir}`);
  try {
    execFileSync('npm', ['run', 'build'], { cwd: dir, stdio: 'pipe', maxBuffer: 1 << 28 });
  } catch (e) {
    process.stderr.write(e.stderr ?? '');
    throw new Error(`warm-ab: building ${commit.slice(0, 12)} failed`, { cause: e });
  }
  fs.writeFileSync(done, '');
  return dir;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const us = (ns) => `${(ns / 1000).toFixed(0)} µs`;

async function main() {
  const rev = process.argv[2];
  const rounds = Number(process.argv[3] ?? 400);
  if (rev === undefined || !(rounds > 0)) {
    console.error('usage: node bench/warm-ab.js <rev> [rounds]');
    process.exit(2);
  }
  const other = require(path.join(builtTree(rev), 'dist', 'index.js'));
  const here = require(path.join(ROOT, 'dist', 'index.js'));
  const target = await startCTarget({ workers: 8, depth: 20 });
  try {
    const runs = [
      [rev, () => other.snapshotSync(target.pid)],
      ['this tree', () => here.snapshotSync(target.pid)],
      ["this tree, capture: 'ptrace'", () => here.snapshotSync(target.pid, { capture: 'ptrace' })],
    ];
    const seen = runs.map(() => ({ wall: [], walk: [], symbolize: [] }));
    for (let r = 0; r < 30; r++) for (const [, take] of runs) take();
    // In blocks, not snapshot by snapshot: a tree that stops the target's threads wakes them,
    // and a stop-free capture re-reads what it proved of a thread that has run since.
    for (let block = 0; block * BLOCK < rounds; block++) {
      for (let k = 0; k < runs.length; k++) {
        const i = (block + k) % runs.length;
        for (let r = 0; r < SETTLE; r++) runs[i][1]();
        for (let r = 0; r < BLOCK; r++) {
          const t0 = process.hrtime.bigint();
          const shot = runs[i][1]();
          seen[i].wall.push(Number(process.hrtime.bigint() - t0));
          seen[i].walk.push(shot.cost.walkNs);
          seen[i].symbolize.push(shot.cost.symbolizeNs);
        }
      }
    }
    console.log(`| tree (${rounds} snapshots each, in blocks of ${BLOCK}) | wall | walkNs | symbolizeNs |`);
    console.log('| --- | --- | --- | --- |');
    runs.forEach(([name], i) => {
      const s = seen[i];
      console.log(`| ${name} | ${us(median(s.wall))} | ${us(median(s.walk))} | ${us(median(s.symbolize))} |`);
    });
    const ratio = median(seen[1].wall) / median(seen[0].wall);
    console.log(`\nthis tree / ${rev}: ${ratio.toFixed(3)}× (load average ${os.loadavg()[0].toFixed(2)})`);
  } finally {
    target.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
