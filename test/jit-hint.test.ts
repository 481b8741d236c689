// The hint under a snapshot's text when JIT frames have no names: on a real node whose JIT code
// is left unnamed (runtimeFrames: false, no perf map), and on hand-made snapshots.
import { afterEach, describe, expect, it } from 'vitest';
import { snapshot, type Snapshot } from '../src/index';
import { formatSnapshotText } from '../src/output/text';
import { NODE_JIT_NAMES_FIX } from '../src/symbolize/jit-hint';
import type { Frame, ThreadStack } from '../src/types';
import { emptyPerfMapPath } from './helpers/proc';
import { startNode, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

const unnamedJit = (s: Snapshot): Frame[] =>
  s.threads.flatMap((t) => t.frames.filter((f) => f.module === '[anon]' && f.symbol === null));

describe('text output: JIT frames without names', () => {
  it('a busy node with its JIT code unnamed ends with the hint doctor gives', async () => {
    const t = await startNode(
      `function burn() { let x = 0; for (;;) { x += Math.sqrt(x + 1); if (x > 1e12) x = 0; } }
       console.log('ready');
       setTimeout(burn, 10);`,
    );
    emptyPerfMapPath(t.pid); // it writes none: one there is stale, and says perf-map-refused instead
    // The loop runs in optimized code in [anon] nearly always; a sample may land in a builtin.
    let shot: Snapshot | undefined;
    for (let i = 0; i < 50 && shot === undefined; i++) {
      const s = await snapshot(t.pid, { threads: [t.pid], runtimeFrames: false });
      if (unnamedJit(s).length > 0) shot = s;
    }
    expect(shot, 'no snapshot caught the main thread in JIT code').toBeDefined();
    const n = unnamedJit(shot!).length;
    const text = formatSnapshotText(shot!);
    expect(
      text.endsWith(
        `\n\nhint: ${n} frame${n === 1 ? '' : 's'} in JIT code ha${n === 1 ? 's' : 've'} no name (no-perf-map): ${NODE_JIT_NAMES_FIX}\n`,
      ),
      text,
    ).toBe(true);
    expect(NODE_JIT_NAMES_FIX).toContain('--perf-basic-prof --interpreted-frames-native-stack');
    // Colour: the hint is yellow like the other warnings of the text.
    expect(formatSnapshotText(shot!, { color: true })).toMatch(/\x1b\[33mhint: .*\x1b\[39m\n$/);
  }, 30_000);

  it('other runtimes get pointed at their perf map; frames not named on purpose get no hint', () => {
    const frame = (over: Partial<Frame>): Frame => ({
      pc: '0x7f0000001000',
      method: 'regs',
      returnAddress: false,
      module: '[anon]',
      moduleOffset: '0x1000',
      symbol: null,
      symbolOffset: null,
      ...over,
    });
    const thread = (frames: Frame[]): ThreadStack => ({
      tid: 7,
      name: 'java',
      state: 'R',
      frames,
      end: 'end-of-chain',
      complete: false,
      pauseNs: 0,
      capture: 'ptrace',
      stackBytes: 0,
    });
    const shot = (frames: Frame[]): Snapshot => ({
      version: 1,
      pid: 7,
      command: 'java',
      schedule: 'rolling',
      takenAt: new Date(0).toISOString(),
      threads: [thread(frames)],
      cost: { totalNs: 0, pauseNsMax: 0, walkNs: 0, symbolizeNs: 0, modulesNs: 0, bytesCopied: 0 },
    });
    const unnamed = frame({ symbolReason: 'no-perf-map' });
    expect(formatSnapshotText(shot([unnamed, unnamed]))).toMatch(
      /\nhint: 2 frames in JIT code have no name \(no-perf-map\): a JIT runtime names its code in \/tmp\/perf-7\.map when asked to \(see `stackshot doctor 7`\)\n$/,
    );
    // --no-symbolize (no reason: naming was not asked for), named JIT code, a file-backed frame.
    expect(formatSnapshotText(shot([frame({})]))).not.toContain('hint:');
    expect(formatSnapshotText(shot([frame({ symbol: 'LazyCompile:*run', symbolOffset: 4 })]))).not.toContain('hint:');
    const libc = frame({ module: '/usr/lib/libc.so.6', symbolReason: 'no-symbol-covers' });
    expect(formatSnapshotText(shot([libc]))).not.toContain('hint:');
  });
});
