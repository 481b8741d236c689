// The unwinder's own figures: frames per second on copied stacks (CFI and frame-pointer
// frames separately, one core), and whether unwinding with CFI costs the target anything
// (it must not: the capture is the same, the unwind runs after the threads resumed).
'use strict';
const path = require('node:path');

const { binding } = require('../dist/addon.js');
const { snapshotSync } = require('../dist/index.js');
const { captureSync } = require('../dist/snapshot.js');
const { ModuleRegistry } = require('../dist/symbolize/module-registry.js');
const { buildC, startGrandchild } = require('./target.js');

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

/**
 * The rows of ModuleRegistry.unwindMappings with every module loaded (a walk loads those it
 * reaches, on first need): the throughput below is the walk's alone.
 */
function loadedRows(mappings) {
  for (let row = 0; row < mappings.rows.length / 4; row++) {
    if ((mappings.rows[row * 4 + 3] & 2n) !== 0n) mappings.load(row);
  }
  return mappings.rows;
}

/**
 * Frames per CPU-second of binding.unwind over the same copied stacks (~1 s of work). CPU time,
 * not wall time: the unwind runs on this thread, and on a busy machine the wall clock would
 * also count the time spent waiting for a CPU.
 */
function throughput(raw, mappings, live, seconds = 1) {
  const threads = raw.threads.filter((t) => t.status === 'captured');
  const input = { arch: binding.arch, pid: live ? raw.pid : 0, maxFrames: 4096, mappings, threads };
  let frames = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  while (process.hrtime.bigint() - t0 < BigInt(Math.round(seconds * 1e9))) {
    for (const u of binding.unwind(input)) frames += u.pcs.length;
  }
  const cpu = process.cpuUsage(cpu0);
  return frames / ((cpu.user + cpu.system) / 1e6);
}

/** Rows for the markdown table: [measure, median, detail, target]. */
async function measureUnwinder(rounds = 200) {
  const fixture = buildC(path.join(__dirname, '..', 'test', 'fixtures', 'threads.c'));
  const target = await startGrandchild(fixture, ['--workers', '4', '--depth', '1000', '--worker-leaf', 'sleep']);
  try {
    // Stopped captures: every register, as the unwinder's own figures need. A stop-free one of
    // these blocked workers has pc and sp only, and this loop walks raw threads with what they hold.
    const { raw } = captureSync(target.pid, { capture: 'ptrace' });
    const mappings = loadedRows(new ModuleRegistry().unwindMappings(raw.pid, raw.maps));
    const fpOnly = mappings.slice();
    for (let i = 3; i < fpOnly.length; i += 4) fpOnly[i] &= 1n;
    const cfi = throughput(raw, mappings, false);
    const fp = throughput(raw, fpOnly, false);

    // The pause with each unwinder, interleaved on the same target, both stopping the threads
    // (stop-free, the hybrid unwinder's pause is 0: the ratio would say nothing).
    const pause = { hybrid: [], fp: [] };
    for (let i = 0; i < rounds; i++) {
      for (const unwind of ['hybrid', 'fp']) {
        const options = { unwind, symbolize: false, capture: 'ptrace' };
        for (const t of snapshotSync(target.pid, options).threads) pause[unwind].push(t.pauseNs);
      }
    }
    const ratio = median(pause.hybrid) / median(pause.fp);
    return [
      [
        'unwind throughput, CFI frames (per CPU-second, 4 threads × 1000 frames)',
        `${(cfi / 1e6).toFixed(1)} M frames/s`,
        '',
        '≥ 5 M frames/s',
      ],
      [
        'unwind throughput, frame-pointer frames (per CPU-second, same stacks)',
        `${(fp / 1e6).toFixed(1)} M frames/s`,
        '',
        '',
      ],
      [
        'per-thread pause, rolling, capture: ptrace: hybrid unwinder / frame pointers only',
        ratio.toFixed(2),
        `${(median(pause.hybrid) / 1000).toFixed(1)} µs vs ${(median(pause.fp) / 1000).toFixed(1)} µs`,
        'within 10 % (0.90–1.10)',
      ],
    ];
  } finally {
    target.stop();
  }
}

module.exports = { measureUnwinder, throughput, loadedRows };

if (require.main === module) {
  measureUnwinder().then((rows) => {
    console.log('| measure | median | detail | target |\n| --- | --- | --- | --- |');
    for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  });
}
