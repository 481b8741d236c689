// The CLI's output reaches a pipe whole: a pipe takes 64 KiB at once, the rest of a write is
// queued and finishes asynchronously, so exiting right after writing cut the output (a
// 231-thread JSON snapshot came out as 131,072 of 317,492 bytes, exit 0). A reader that goes
// away early (`| head -1`) ends the run quietly.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { Snapshot } from '../src/types';
import { startFixture, stopAllTargets } from './helpers/target';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-cli-output-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await stopAllTargets();
});

/** Runs `stackshot <args>` through sh, its stdout going where `redirect` says. */
function sh(args: string, redirect: string): { status: number | null; stdout: string; stderr: string } {
  const cmd = `"${process.execPath}" "${CLI}" ${args} ${redirect}`;
  const r = spawnSync('/bin/sh', ['-c', cmd], {
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** What two snapshots of sleeping threads share: each thread and the names of its frames. */
function stacks(s: Snapshot): string[] {
  return s.threads.map((t) => `${t.tid} ${t.name}: ${t.frames.map((f) => f.symbol).join(' < ')}`);
}

it('pipes the JSON of a 231-thread target whole, equal to the output to a file', async () => {
  const t = await startFixture('threads', 'fp', ['--workers', '230', '--worker-leaf', 'sleep']);
  const file = path.join(dir, 'shot.json');
  const toFile = sh(`${t.pid} --json`, `> "${file}"`);
  expect(toFile.stderr).toBe('');
  expect(toFile.status).toBe(0);
  const piped = sh(`${t.pid} --json`, '| cat');
  expect(piped.stderr).toBe('');
  expect(piped.status).toBe(0);
  expect(piped.stdout.length).toBeGreaterThan(128 * 1024); // more than two pipe buffers
  expect(piped.stdout.endsWith('}\n')).toBe(true);
  const fromPipe = JSON.parse(piped.stdout) as Snapshot;
  const fromFile = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  expect(fromPipe.threads.length).toBeGreaterThanOrEqual(231);
  expect(stacks(fromPipe)).toEqual(stacks(fromFile));
  // The text output as well: complete, ending with its last thread's last frame line.
  const text = sh(`${t.pid}`, '| cat');
  expect(text.status).toBe(0);
  expect(text.stdout.length).toBeGreaterThan(128 * 1024);
  expect(text.stdout.endsWith('\n')).toBe(true);
  for (const th of fromFile.threads) expect(text.stdout).toContain(String(th.tid));
});

it('ends quietly when the reader closes the pipe early (| head -1)', async () => {
  const t = await startFixture('threads', 'fp', ['--workers', '230', '--worker-leaf', 'sleep']);
  // `set -o pipefail` is not POSIX: the CLI's own status comes through a file.
  const status = path.join(dir, 'status');
  const stderr = path.join(dir, 'stderr');
  const cmd = `{ "${process.execPath}" "${CLI}" ${t.pid} 2>"${stderr}"; echo $? > "${status}"; } | head -1`;
  const r = spawnSync('/bin/sh', ['-c', cmd], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  expect(r.status).toBe(0);
  expect(r.stdout.split('\n').length).toBe(2); // one line and its newline
  expect(fs.readFileSync(stderr, 'utf8')).toBe('');
  expect(fs.readFileSync(status, 'utf8').trim()).toBe('0');
});
