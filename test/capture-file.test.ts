// Offline unwinding: a capture saved to a file unwinds to the same frames after the process
// is gone (module files are found again by path).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { captureToFile, readCaptureFile, snapshotFromFile } from '../src/capture-file';
import type { Snapshot } from '../src/types';
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
    // A thread read without a stop (capture "blocked") has only pc and sp: no register array.
    expect(saved.threads.every((t) => t.stack.length > 0 && (t.regs.length > 0 || t.capture === 'blocked'))).toBe(true);

    const offline = snapshotFromFile(file);
    expect(offline.pid).toBe(live.pid);
    expect(offline.command).toBe('threads');
    for (const t of live.threads) {
      const o = offline.threads.find((x) => x.tid === t.tid);
      expect(
        o?.frames.map((f) => [f.pc, f.symbol, f.method]),
        `thread ${t.name}`,
      ).toEqual(t.frames.map((f) => [f.pc, f.symbol, f.method]));
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

describe('the CLI', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), ...args], { encoding: 'utf8' });

  it('--save, then `stackshot unwind FILE` after the process is gone: the same frames', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-capture-'));
    try {
      const file = path.join(dir, 'shot.json');
      const target = await startFixture('threads', 'nofp', ['--only', 'sleeper,condwait']);
      const live = cli([String(target.pid), '--save', file, '--json']);
      expect(live.status, live.stderr).toBe(0);
      await target.stop();
      const later = cli(['unwind', file, '--json']);
      expect(later.status, later.stderr).toBe(0);
      const frames = (out: string) => (JSON.parse(out) as Snapshot).threads.map((t) => t.frames.map((f) => f.symbol));
      expect(frames(later.stdout)).toEqual(frames(live.stdout));
      expect((JSON.parse(later.stdout) as Snapshot).threads.every((t) => t.complete)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing or foreign file: one line of error with a hint, exit 1', () => {
    const missing = cli(['unwind', '/nonexistent/shot.json']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(
      /^stackshot: \/nonexistent\/shot.json: .* \[ENOENT\]\nhint: give a file written by `stackshot <pid> --save <file>`\n$/,
    );
    const foreign = cli(['unwind', path.join(__dirname, '..', 'package.json')]);
    expect(foreign.status).toBe(1);
    expect(foreign.stderr).toMatch(/not a stackshot capture .*\[EINVAL\]/);
  });

  it('--unwind fp walks frame pointers only', async () => {
    const target = await startFixture('threads', 'nofp', ['--only', 'sleeper']);
    const hybrid = JSON.parse(cli([String(target.pid), '--json']).stdout) as Snapshot;
    const fp = JSON.parse(cli([String(target.pid), '--json', '--unwind', 'fp']).stdout) as Snapshot;
    const sleeper = (s: Snapshot) => s.threads.find((t) => t.name === 'sleeper')!;
    expect(sleeper(hybrid).complete).toBe(true);
    expect(sleeper(fp).complete).toBe(false); // no frame pointers anywhere on this stack
    expect(sleeper(fp).frames.every((f) => f.method !== 'cfi')).toBe(true);
  });
});
