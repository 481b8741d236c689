// What a cold `stackshot <pid>` loads: a plain snapshot requires no subcommand module (record,
// audit, doctor), no saved-capture reader, no demo, no explain; asking for one still finds it.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPlainSnapshot } from '../src/cli/subcommands';
import { startFixture, stopAllTargets, type Target } from './helpers/target';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const ADDON_BUILT = fs.existsSync(path.join(ROOT, 'build', 'Release', 'stackshot.node'));
const ONLY_FOR_THEIR_COMMAND = [
  'cli/record-command.js',
  'cli/audit-command.js',
  'cli/doctor-command.js',
  'cli/explain.js',
  'capture-file.js',
  'demo/run-demo.js',
  'record.js',
  'doctor.js',
  'audit/audit.js',
];

let dir: string;
let hook: string;

/** Runs the CLI with a preload that prints every loaded dist/ module (relative) on stderr. */
function loadedBy(args: string[]): { status: number | null; loaded: string[]; stdout: string } {
  const r = spawnSync(process.execPath, ['-r', hook, CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  const line = r.stderr.split('\n').find((l) => l.startsWith('loaded:')) ?? 'loaded:';
  return { status: r.status, stdout: r.stdout, loaded: line.slice('loaded:'.length).split(' ').filter(Boolean) };
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-startup-'));
  hook = path.join(dir, 'hook.js');
  const dist = JSON.stringify(path.join(ROOT, 'dist') + path.sep);
  fs.writeFileSync(
    hook,
    `process.on('exit', () => process.stderr.write('loaded:' + Object.keys(require.cache)` +
      `.filter((f) => f.startsWith(${dist})).map((f) => f.slice(${dist}.length)).join(' ') + '\\n'));\n`,
  );
});

afterAll(async () => {
  await stopAllTargets();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('which command lines are plain snapshots', () => {
  it('a pid first, options anywhere: plain; a subcommand, help, or an option value first: not', () => {
    const argv = (...a: string[]) => ['node', 'stackshot', ...a];
    expect(isPlainSnapshot(argv('1234'))).toBe(true);
    expect(isPlainSnapshot(argv('--json', '1234', '--no-color'))).toBe(true);
    expect(isPlainSnapshot(argv('1234', '--help'))).toBe(false);
    expect(isPlainSnapshot(argv('-h'))).toBe(false);
    expect(isPlainSnapshot(argv('record', '1234'))).toBe(false);
    expect(isPlainSnapshot(argv('help', 'record'))).toBe(false);
    expect(isPlainSnapshot(argv('--schedule', 'consistent', '1234'))).toBe(false);
    expect(isPlainSnapshot(argv('--version'))).toBe(false);
  });
});

describe.skipIf(!ADDON_BUILT)('modules a cold CLI loads (needs the built addon and dist/)', () => {
  let target: Target;
  beforeAll(async () => {
    target = await startFixture('idle', 'fp');
  });

  it('`stackshot <pid>` names the stack without loading any other command', () => {
    const r = loadedBy([String(target.pid), '--no-color']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/idle_wait/);
    expect(r.loaded).toContain('snapshot.js');
    for (const m of ONLY_FOR_THEIR_COMMAND) expect(r.loaded, m).not.toContain(m);
  });

  it('a subcommand and help still load what they need', () => {
    const doctor = loadedBy(['doctor', String(target.pid)]);
    expect(doctor.loaded).toContain('cli/doctor-command.js');
    const help = loadedBy(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/record/);
    expect(help.stdout).toMatch(/audit/);
  });
});
