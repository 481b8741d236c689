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
const BIN = path.join(ROOT, 'bin', 'stackshot.js'); // run by its shebang, as npm's bin link runs it
const ADDON_BUILT = fs.existsSync(path.join(ROOT, 'build', 'Release', 'stackshot.node'));
const BUNDLED = fs.existsSync(path.join(ROOT, 'dist', 'cli-bundle.js'));
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

/**
 * A copy of the package in `into` (bin/ and dist/ copied, the rest linked): its bundle has
 * another path, so the code cache the build shipped with dist/ is not this copy's.
 */
function copyPackage(into: string): string {
  for (const d of ['bin', 'dist'])
    fs.cpSync(path.join(ROOT, d), path.join(into, d), { recursive: true, preserveTimestamps: true });
  fs.rmSync(path.join(into, 'dist', 'code-cache'), { recursive: true, force: true });
  fs.copyFileSync(path.join(ROOT, 'package.json'), path.join(into, 'package.json'));
  for (const d of ['node_modules', 'build', 'prebuilds']) {
    if (fs.existsSync(path.join(ROOT, d))) fs.symlinkSync(path.join(ROOT, d), path.join(into, d));
  }
  return path.join(into, 'bin', 'stackshot.js');
}

describe.skipIf(!ADDON_BUILT || !BUNDLED)(
  'the `stackshot` bin: the bundled CLI, code-cached (needs the addon and `npm run build:ts` with rolldown)',
  () => {
    let target: Target;
    let cache: string;
    let copyBin: string;
    const run = (binPath: string, args: string[], cacheDir = cache) =>
      spawnSync(binPath, args, {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, STACKSHOT_CACHE_DIR: cacheDir, NO_COLOR: '1' },
      });
    const bin = (args: string[]) => run(copyBin, args);
    const codeEntries = (dir = cache) => fs.readdirSync(dir).filter((f) => f.startsWith('code-'));
    const frames = (out: string) => out.split('\n').slice(1).join('\n'); // the title holds timings

    beforeAll(async () => {
      target = await startFixture('idle', 'fp');
      cache = fs.mkdtempSync(path.join(dir, 'cache-'));
      copyBin = copyPackage(fs.mkdtempSync(path.join(dir, 'package-')));
    });

    it('prints what dist/cli.js prints, and keeps a code cache that the next run uses', () => {
      const plain = spawnSync(process.execPath, [CLI, String(target.pid)], {
        encoding: 'utf8',
        env: { ...process.env, STACKSHOT_CACHE: 'off', NO_COLOR: '1' },
      });
      const first = bin([String(target.pid)]);
      expect(first.status, first.stderr).toBe(0);
      expect(frames(first.stdout)).toBe(frames(plain.stdout));
      expect(first.stdout).toMatch(/idle_wait/);
      const [entry] = codeEntries();
      expect(entry).toBeDefined();
      const written = fs.statSync(path.join(cache, entry!)).mtimeMs;
      const second = bin([String(target.pid)]);
      expect(second.status, second.stderr).toBe(0);
      expect(frames(second.stdout)).toBe(frames(plain.stdout));
      expect(codeEntries()).toEqual([entry]);
      // Read (its mtime refreshed as recently used), not rejected and rewritten: same bytes.
      expect(fs.statSync(path.join(cache, entry!)).mtimeMs).toBeGreaterThanOrEqual(written);
    });

    const damages: [string, (b: Buffer) => Buffer][] = [
      // V8 checks a code cache's header (version, flags) but not its payload in release builds.
      [
        'in its payload',
        (b) =>
          Buffer.concat([
            b.subarray(0, b.length - 100),
            Buffer.from([b[b.length - 100]! ^ 0xff]),
            b.subarray(b.length - 99),
          ]),
      ],
      [
        'in the header V8 checks',
        (b) => Buffer.concat([b.subarray(0, 24), Buffer.from([b[24]! ^ 0xff]), b.subarray(25)]),
      ],
      ['by truncation', (b) => b.subarray(0, b.length >> 1)],
    ];
    it.each(damages)('a code cache damaged %s is not used; the run succeeds and replaces it', (_what, damage) => {
      const [entry] = codeEntries();
      const file = path.join(cache, entry!);
      const bad = damage(fs.readFileSync(file));
      fs.writeFileSync(file, bad);
      const r = bin([String(target.pid)]);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/idle_wait/);
      expect(fs.readFileSync(file).equals(bad)).toBe(false);
    });

    it('a shipped code cache serves a first run, which writes none; a damaged one is not used', () => {
      const [entry] = codeEntries();
      const good = fs.readFileSync(path.join(cache, entry!));
      const shipped = path.join(path.dirname(copyBin), '..', 'dist', 'code-cache');
      fs.mkdirSync(shipped, { recursive: true });
      fs.writeFileSync(path.join(shipped, entry!), good);
      const empty = fs.mkdtempSync(path.join(dir, 'cache-'));
      const first = run(copyBin, [String(target.pid)], empty);
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/idle_wait/);
      expect(codeEntries(empty)).toEqual([]); // the shipped one was accepted
      const [, damageInPayload] = damages[0]!;
      fs.writeFileSync(path.join(shipped, entry!), damageInPayload(good));
      const damaged = run(copyBin, [String(target.pid)], empty);
      expect(damaged.status, damaged.stderr).toBe(0);
      expect(damaged.stdout).toMatch(/idle_wait/);
      expect(codeEntries(empty)).toEqual([entry]); // compiled, and the user's own written
    });

    it.skipIf(!fs.existsSync(path.join(ROOT, 'dist', 'code-cache')))(
      "the build's shipped code cache is this bundle's: a run of the package's bin with an empty cache writes none",
      () => {
        const empty = fs.mkdtempSync(path.join(dir, 'cache-'));
        const r = run(BIN, [String(target.pid)], empty);
        expect(r.status, r.stderr).toBe(0);
        expect(r.stdout).toMatch(/idle_wait/);
        expect(codeEntries(empty)).toEqual([]);
      },
    );

    it('--no-cache writes no code cache either; subcommands and --version work through the bundle', () => {
      const fresh = fs.mkdtempSync(path.join(dir, 'cache-'));
      const r = spawnSync(copyBin, [String(target.pid), '--no-cache'], {
        encoding: 'utf8',
        env: { ...process.env, STACKSHOT_CACHE_DIR: fresh },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readdirSync(fresh)).toEqual([]);
      expect(bin(['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
      const doctor = bin(['doctor', String(target.pid)]);
      expect(doctor.stdout).toMatch(/addon/);
    });
  },
);
