// npm run bench's cold figures from fresh-process runs of bench/cold.js --naming (one list of
// runs with the persistent module cache off, one with it filled). Shared by run.js (section
// node) and agreement.js.
'use strict';

/**
 * Cold, as `stackshot bench` defines it (src/benchmark/cold-naming.ts), from fresh processes
 * (bench/cold.js --naming), with the persistent module cache off and filled: the first snapshot
 * of a fresh process (`modulesNs + symbolizeNs`), and cold naming by a symbolizer of its own.
 */
function coldFigures(off, filled, med) {
  const first = (runs) => med(runs.map((x) => x.cost.modulesNs + x.cost.symbolizeNs));
  const perFrame = (runs, key) =>
    med(runs.filter((x) => x.naming?.[key] != null).map((x) => x.naming[key] / x.naming.frames));
  return {
    firstSnapshotNs: { cacheOff: first(off), cacheFilled: first(filled) },
    coldNsPerFrame: perFrame(off, 'coldNs'),
    coldDiskCacheNsPerFrame: perFrame(filled, 'coldDiskCacheNs'),
    warmNsPerFrame: perFrame(off, 'warmNs'),
    loadNs: med(off.map((x) => x.loadNs)),
    walkNs: med(off.map((x) => x.cost.walkNs)),
    modulesNs: med(off.map((x) => x.cost.modulesNs)),
    symbolizeNs: med(off.map((x) => x.cost.symbolizeNs)),
    pauseNsMax: med(off.map((x) => x.cost.pauseNsMax)),
    secondTotalNs: med(off.map((x) => x.warmCost.totalNs)),
    runs: { cacheOff: off.length, cacheFilled: filled.length },
  };
}

module.exports = { coldFigures };
