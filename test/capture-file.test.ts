// Offline unwinding: a capture saved to a file unwinds to the same frames after the process
// is gone (module files are found again by path).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';

import { captureToFile, readCaptureFile, snapshotFromFile } from '../src/capture-file';
import { isAlive } from './helpers/proc';
import { startFixture, stopAllTargets } from './helpers/target';

afterEach(async () => {
  await stopAllTargets();
});

it('unwinds a saved capture to the same frames after the process has exited', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-capture-'));
  try {
    const file = path.join(dir, 'shot.json');
    const target = await startFixture('threads', 'nofp');
    const live = await captureToFile(target.pid, file);
    await target.stop();
    expect(isAlive(target.pid)).toBe(false);

    const saved = readCaptureFile(file);
    expect(saved.threads.length).toBe(live.threads.length);
    expect(saved.threads.every((t) => t.stack.length > 0 && t.regs.length > 0)).toBe(true);

    const offline = snapshotFromFile(file);
    expect(offline.pid).toBe(live.pid);
    expect(offline.command).toBe('threads');
    for (const t of live.threads) {
      const o = offline.threads.find((x) => x.tid === t.tid);
      expect(o?.frames.map((f) => [f.pc, f.symbol, f.method]), `thread ${t.name}`).toEqual(t.frames.map((f) => [f.pc, f.symbol, f.method]));
      expect(o?.complete).toBe(t.complete);
      expect(t.complete).toBe(true);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

it('rejects a file that is not a capture with a clear error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-capture-'));
  try {
    const file = path.join(dir, 'not.json');
    fs.writeFileSync(file, JSON.stringify({ hello: 'world' }));
    expect(() => snapshotFromFile(file)).toThrow(/not a stackshot capture/);
    fs.writeFileSync(file, '{ truncated');
    expect(() => snapshotFromFile(file)).toThrow();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
