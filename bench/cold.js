// Child process of the bench: load stackshot in a FRESH process (empty module cache, no parsed
// ELF files) and take one snapshot. Prints JSON on stdout.
//   node bench/cold.js <pid> [rolling|consistent]
'use strict';
const t0 = process.hrtime.bigint();
const { snapshotSync } = require('../dist/index.js');
const loadNs = Number(process.hrtime.bigint() - t0);
const pid = Number(process.argv[2]);
const schedule = process.argv[3] ?? 'rolling';
const t1 = process.hrtime.bigint();
const shot = snapshotSync(pid, { schedule });
const wallNs = Number(process.hrtime.bigint() - t1);
// The second snapshot in the same process: warm, for contrast.
const t2 = process.hrtime.bigint();
const warm = snapshotSync(pid, { schedule });
const warmWallNs = Number(process.hrtime.bigint() - t2);
const frames = shot.threads.reduce((n, t) => n + t.frames.length, 0);
const pauses = Object.fromEntries(shot.threads.map((t) => [t.tid, t.pauseNs]));
const complete = shot.threads.filter((t) => t.complete).length;
const warmPauses = Object.fromEntries(warm.threads.map((t) => [t.tid, t.pauseNs]));
process.stdout.write(
  JSON.stringify({
    loadNs,
    wallNs,
    cost: shot.cost,
    frames,
    threads: shot.threads.length,
    complete,
    pauses,
    warmPauses,
    warmWallNs,
    warmCost: warm.cost,
  }),
);
