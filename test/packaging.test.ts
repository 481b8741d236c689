// The npm package as users get it: `npm run prebuild` (prebuildify) makes
// prebuilds/linux-x64/stackshot.node, `npm pack` makes the tarball, and the tarball installs into
// an empty directory WITHOUT a compiler (PREBUILDS_ONLY=1, and gcc/g++/cc/c++/make on PATH replaced
// by stubs that fail) and `npx stackshot demo` works there.
//
// Everything happens in a staged copy of the package (src/, native/, binding.gyp, package.json,
// ...; node_modules linked): prebuildify runs `node-gyp rebuild`, which would otherwise wipe the
// build/ directory that the other test files are loading the addon from. The prebuilt addon is
// cached in os.tmpdir()/stackshot-prebuilds/<hash of native sources, binding.gyp, node, gcc>/, like
// the fixtures are, so only the first run pays for the compile.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { have } from './helpers/tools';

const ROOT = path.join(__dirname, '..');
const PLATFORM_DIR = `${process.platform}-${process.arch}`;
/** Why the package cannot be built here (null when it can): both prebuilds need their compiler. */
const MISSING =
  ['g++', 'make', 'strip', 'aarch64-linux-gnu-g++', 'aarch64-linux-gnu-strip']
    .filter((c) => !have(c))
    .map((c) => `${c} is not installed`)
    .join(', ') || null;

let work: string;
let stage: string;
let tarball: string;
let packedFiles: string[] = [];

/** The environment of a nested npm: without the outer `npm test`'s npm_* variables or NODE_OPTIONS. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'NODE_OPTIONS' || k === 'INIT_CWD') continue;
    env[k] = v;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeoutMs = 180_000,
): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} (in ${cwd}) failed with ${r.status ?? r.signal}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`,
    );
  }
  return r;
}

function hashTree(h: ReturnType<typeof createHash>, p: string): void {
  const st = fs.statSync(p);
  if (st.isDirectory()) {
    for (const e of fs.readdirSync(p).sort()) hashTree(h, path.join(p, e));
  } else {
    h.update(path.relative(ROOT, p)).update('\0').update(fs.readFileSync(p)).update('\0');
  }
}

/** ELF e_machine of a file: 62 for x86-64, 183 for aarch64 (what `file` reads). */
function elfMachine(file: string): number {
  const b = fs.readFileSync(file).subarray(0, 20);
  expect(b.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return b.readUInt16LE(18);
}

/**
 * prebuilds/ for the staged package (linux-x64 and linux-arm64, with the source stamp that lets
 * `npm pack` keep them): from the cache, or built there by `npm run prebuild -- --all`.
 */
function prebuild(): void {
  const h = createHash('sha256');
  hashTree(h, path.join(ROOT, 'native'));
  hashTree(h, path.join(ROOT, 'binding.gyp'));
  hashTree(h, path.join(ROOT, 'scripts', 'prebuild.js'));
  h.update(process.version).update(execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }));
  const cache = path.join(os.tmpdir(), 'stackshot-prebuilds', h.digest('hex').slice(0, 24));
  const staged = path.join(stage, 'prebuilds');
  if (!fs.existsSync(cache)) {
    run('npm', ['run', 'prebuild', '--', '--all'], stage, cleanEnv(), 900_000);
    for (const arch of ['x64', 'arm64']) {
      const built = path.join(staged, `linux-${arch}`, 'stackshot.node');
      expect(fs.existsSync(built), `npm run prebuild did not write ${built}`).toBe(true);
    }
    // Publish into the cache atomically (other runs may race).
    const tmp = `${cache}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    fs.mkdirSync(path.dirname(cache), { recursive: true });
    fs.cpSync(staged, tmp, { recursive: true });
    try {
      fs.renameSync(tmp, cache);
    } catch {
      fs.rmSync(tmp, { recursive: true, force: true }); // another run published first
    }
  } else {
    fs.cpSync(cache, staged, { recursive: true });
  }
}

beforeAll(() => {
  if (MISSING !== null) return;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-packaging-'));
  stage = path.join(work, 'stage');
  fs.mkdirSync(stage);
  for (const f of [
    'package.json',
    'package-lock.json',
    'binding.gyp',
    'README.md',
    'tsconfig.json',
    'bin',
    'src',
    'native',
    'scripts',
  ]) {
    if (fs.existsSync(path.join(ROOT, f))) fs.cpSync(path.join(ROOT, f), path.join(stage, f), { recursive: true });
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(stage, 'node_modules'));
  prebuild();
  // npm pack runs `prepare` (tsc → dist/) and packs what package.json's `files` lists.
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], stage, cleanEnv());
  const info = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(work, info[0]!.filename);
  packedFiles = info[0]!.files.map((f) => f.path);
}, 1_200_000);

afterAll(() => {
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('npm package', () => {
  it('the tarball holds both prebuilt addons, the compiled JS and the demo; no tests, no build/', (ctx) => {
    if (MISSING !== null) ctx.skip(MISSING);
    expect(fs.existsSync(tarball)).toBe(true);
    for (const f of [
      'prebuilds/linux-x64/stackshot.node',
      'prebuilds/linux-arm64/stackshot.node',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli.js',
      'bin/stackshot.js',
      'dist/bin.js',
      'dist/cli-bundle.js',
      'dist/record.js',
      'dist/output/flamegraph-svg.js',
      'dist/demo/workload.js',
      'binding.gyp',
      'package.json',
      'README.md',
    ]) {
      expect(packedFiles, f).toContain(f);
    }
    expect(packedFiles.filter((f) => /^(test|build|bench)\//.test(f) || f.endsWith('.tgz'))).toEqual([]);
    // Each prebuild is for the machine its directory names.
    expect(elfMachine(path.join(stage, 'prebuilds', 'linux-x64', 'stackshot.node'))).toBe(62);
    expect(elfMachine(path.join(stage, 'prebuilds', 'linux-arm64', 'stackshot.node'))).toBe(183);
  });

  it('installs into an empty directory without a compiler, and `npx stackshot demo` works there', (ctx) => {
    if (MISSING !== null) ctx.skip(MISSING);
    const app = path.join(work, 'app');
    const stubs = path.join(work, 'no-compiler');
    fs.mkdirSync(app);
    fs.mkdirSync(stubs);
    for (const c of ['gcc', 'g++', 'cc', 'c++', 'make', 'clang', 'clang++']) {
      fs.writeFileSync(
        path.join(stubs, c),
        '#!/bin/sh\necho "no compiler here (stackshot packaging test)" >&2\nexit 127\n',
        { mode: 0o755 },
      );
    }
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
    const env = cleanEnv({ PREBUILDS_ONLY: '1', PATH: `${stubs}:${process.env.PATH}` });
    expect(spawnSync('g++', ['--version'], { env }).status).toBe(127);

    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], app, env);
    const installed = path.join(app, 'node_modules', 'stackshot');
    expect(fs.existsSync(path.join(installed, 'prebuilds', PLATFORM_DIR, 'stackshot.node'))).toBe(true);
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false); // nothing was compiled
    // Runtime dependencies only: no dev dependency was needed or installed.
    for (const dev of ['typescript', 'vitest', 'prebuildify', 'node-gyp', 'playwright-core']) {
      expect(fs.existsSync(path.join(app, 'node_modules', dev)), dev).toBe(false);
    }

    const demo = run('npx', ['--no-install', 'stackshot', 'demo'], app, env, 60_000);
    expect(demo.stdout).toMatch(/^PID \d+ \(node\) — \d+ threads/m);
    expect(demo.stdout).toMatch(/^TID \d+ /m);

    // The library API from the installed package, including the profile formats.
    const api = run(
      process.execPath,
      [
        '-e',
        "const s = require('stackshot'); console.log(['snapshot','record','toFolded','toSpeedscope','toPprof','toFlameGraph'].map(k => typeof s[k]).join(' '))",
      ],
      app,
      env,
    );
    expect(api.stdout.trim()).toBe('function function function function function function');
  }, 120_000);

  it('the linux-arm64 prebuild is an aarch64 addon that loads and runs in an arm64 node (qemu)', (ctx) => {
    if (MISSING !== null) ctx.skip(MISSING);
    const addon = path.join(stage, 'prebuilds', 'linux-arm64', 'stackshot.node');
    // `file` as the oracle of what the binary is, beside elfMachine's own reading above.
    if (!have('file')) ctx.skip('file is not installed');
    expect(execFileSync('file', ['-b', addon], { encoding: 'utf8' })).toMatch(
      /^ELF 64-bit LSB shared object, ARM aarch64/,
    );
    if (!have('qemu-aarch64')) ctx.skip('qemu-aarch64 is not installed (Debian: qemu-user)');
    const sysroot = execFileSync('sh', [path.join(ROOT, 'scripts', 'arm64-node-sysroot.sh'), '--dir'], {
      encoding: 'utf8',
    }).trim();
    if (!fs.existsSync(path.join(sysroot, 'usr', 'bin', 'node'))) {
      ctx.skip(`no arm64 node in ${sysroot}: run scripts/arm64-node-sysroot.sh (as root; .ci/run does)`);
    }
    // qemu-aarch64 -L makes the sysroot the arm64 node's `/`; the addon's path is outside it, so
    // qemu falls back to the real file. A call into the addon proves more than the load.
    const r = run(
      'qemu-aarch64',
      [
        '-L',
        sysroot,
        path.join(sysroot, 'usr', 'bin', 'node'),
        '-e',
        `const a = require(${JSON.stringify(addon)}); console.log(process.arch, a.demangle('_ZN3foo3barEv'))`,
      ],
      work,
      cleanEnv(),
      120_000,
    );
    expect(r.stdout.trim()).toBe('arm64 foo::bar()');
  }, 180_000);
});
