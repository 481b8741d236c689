// What to tell a user whose JIT frames have no names: the one owner of that advice, shown by
// `doctor` (the perf-map check), `audit` (Node's runtime note) and the text output of a
// snapshot (a hint line under the stacks).
import * as path from 'node:path';
import type { Snapshot } from '../types';

/** The node flags that make V8 write /tmp/perf-<pid>.map with every JIT function's name. */
export const NODE_PERF_MAP_FLAGS = '--perf-basic-prof --interpreted-frames-native-stack';

/** How to get names for a node's JIT code when V8's own memory cannot be read. */
export const NODE_JIT_NAMES_FIX = `start node with ${NODE_PERF_MAP_FLAGS} (or NODE_OPTIONS="${NODE_PERF_MAP_FLAGS}")`;

/** Memory no file backs, where JIT code lives ('[anon]', '[anon:name]'); not the kernel's vdso. */
function isAnonymous(module: string | null): boolean {
  return module !== null && module.startsWith('[anon');
}

/** Whether the snapshot is of a node (its command, or the module its main thread started in). */
function isNode(snap: Snapshot): boolean {
  if (snap.command === 'node') return true;
  const main = snap.threads.find((t) => t.tid === snap.pid)?.frames.at(-1)?.module;
  return main !== undefined && main !== null && /^(node|libnode\.so.*)$/.test(path.basename(main));
}

/**
 * "13 frames in JIT code have no names (no-perf-map): start node with
 * ..." when frames in anonymous memory went unnamed (naming was asked for); null otherwise.
 */
export function unnamedJitHint(snap: Snapshot): string | null {
  const reasons = new Map<string, number>();
  let n = 0;
  for (const t of snap.threads) {
    for (const f of t.frames) {
      if (f.symbol !== null || f.kind !== undefined || !isAnonymous(f.module) || f.symbolReason === undefined) continue;
      n++;
      reasons.set(f.symbolReason, (reasons.get(f.symbolReason) ?? 0) + 1);
    }
  }
  if (n === 0) return null;
  const why = [...reasons].sort((a, b) => b[1] - a[1])[0]![0];
  const fix = isNode(snap)
    ? NODE_JIT_NAMES_FIX
    : `a JIT runtime names its code in /tmp/perf-${snap.pid}.map when asked to (see \`stackshot doctor ${snap.pid}\`)`;
  return `${n} frame${n === 1 ? '' : 's'} in JIT code ha${n === 1 ? 's' : 've'} no name (${why}): ${fix}`;
}
