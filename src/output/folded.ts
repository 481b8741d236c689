// FlameGraph's "folded" (collapsed) stack format, as written by stackcollapse-perf.pl and read by
// flamegraph.pl, inferno, speedscope and most flame-graph tools:
//
//   spin;start_thread;spin_thread_main;depth_01;...;spin_leaf 297
//
// One line per distinct stack: frame names from the root to the leaf joined by ';', a space, and
// the number of samples. Names never hold ';' or line breaks (see sanitizeName); frames without a
// symbol are `module+0xoffset` or `[unknown]`.
import { sanitizeName, toBuilder, type ProfileInput, type ProfileOptions } from './profile';

export interface FoldedOptions extends ProfileOptions {
  /**
   * Start every stack with a frame for its thread: 'name' (the thread's name, so threads of one
   * name merge), 'name-tid' (`name-1234`, one root per thread), or false for none (default).
   */
  threadRoot?: 'name' | 'name-tid' | false;
}

/** Folded stacks, one `root;...;leaf count` line each, sorted by stack, newline-terminated. */
export function toFolded(input: ProfileInput, opts: FoldedOptions = {}): string {
  const b = toBuilder(input, opts);
  const counts = new Map<string, number>();
  for (const track of b.threads.values()) {
    const root =
      opts.threadRoot === 'name'
        ? sanitizeName(track.name)
        : opts.threadRoot === 'name-tid'
          ? sanitizeName(`${track.name}-${track.tid}`)
          : null;
    const perStack = new Map<number, number>();
    for (const s of track.stacks) perStack.set(s, (perStack.get(s) ?? 0) + 1);
    for (const [s, n] of perStack) {
      const names = b.functionStack(s).map((f) => b.functions[f]!.name);
      if (root !== null) names.unshift(root);
      const line = names.join(';');
      counts.set(line, (counts.get(line) ?? 0) + n);
    }
  }
  const lines = [...counts].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return lines.map(([stack, n]) => `${stack} ${n}\n`).join('');
}

/** Parse folded lines back into (frames root first, count) pairs. Blank lines are skipped. */
export function parseFolded(text: string): { frames: string[]; count: number }[] {
  const out: { frames: string[]; count: number }[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sp = line.lastIndexOf(' ');
    const count = Number(line.slice(sp + 1));
    if (sp <= 0 || !Number.isFinite(count)) throw new Error(`not a folded line: ${JSON.stringify(line)}`);
    out.push({ frames: line.slice(0, sp).split(';'), count });
  }
  return out;
}
