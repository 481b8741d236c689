// Child process of the bench: load stackshot in a FRESH process (no parsed ELF files) and take
// one snapshot, then a second. Prints JSON on stdout.
//   node bench/cold.js <pid> [rolling|consistent] [--naming]
// The persistent module cache is whatever the environment says (tools.js sets
// STACKSHOT_CACHE=off or a STACKSHOT_CACHE_DIR). With --naming it also measures cold naming as
// `stackshot bench` defines it (src/benchmark/cold-naming.ts: one ptrace-rolling capture
// walked and named by a symbolizer of its own, module cache off and filled), with the same code.
'use strict';
const t0 = process.hrtime.bigint();
const { snapshotSync } = require('../dist/index.js');
const loadNs = Number(process.hrtime.bigint() - t0);
const pid = Number(process.argv[2]);
const schedule = process.argv[3] ?? 'rolling';
const withNaming = process.argv.includes('--naming');

/** Cold and warm naming of one capture (stackshot bench's definition, stackshot bench's code). */
async function coldNaming() {
  const { capture } = require('../dist/snapshot.js');
  const { measureColdWarm } = require('../dist/benchmark/cold-naming.js');
  return measureColdWarm(await capture(pid, { capture: 'ptrace', schedule: 'rolling' }));
}

async function main() {
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
      ...(withNaming ? { naming: await coldNaming() } : {}),
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
