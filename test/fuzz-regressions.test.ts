// The fuzz targets (test/fuzz/targets/) replayed on every input kept under test/fuzz/: the seed
// corpus and the regression inputs of past findings. Built with the plain driver
// (test/fuzz/standalone_main.cc) and g++ under ASan/UBSan, so no clang or libFuzzer is needed:
// an input that once broke a parser fails `npm test` wherever the tests run. `npm run fuzz`
// is where new inputs are searched for.

import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildNative, REPO_ROOT } from './helpers/native-build';

const FUZZ_DIR = path.join(REPO_ROOT, 'test', 'fuzz');
const DRIVER = path.join(FUZZ_DIR, 'standalone_main.cc');

interface TargetSpec {
  sources: string[];
  libs: string[];
}
const TARGETS: Record<string, TargetSpec> = JSON.parse(
  fs.readFileSync(path.join(FUZZ_DIR, 'targets.json'), 'utf8'),
).targets;

/** targets.json's source patterns: a file, or `dir/*.cc` (the only glob CMakeLists.txt is given). */
function expand(pattern: string): string[] {
  if (!pattern.endsWith('/*.cc')) return [pattern];
  const dir = pattern.slice(0, -'/*.cc'.length);
  return fs
    .readdirSync(path.join(REPO_ROOT, dir))
    .filter((f) => f.endsWith('.cc'))
    .sort()
    .map((f) => path.join(dir, f));
}

const SANITIZE = ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', '-fno-omit-frame-pointer'];
const INCLUDE = ['-I', path.join(REPO_ROOT, 'native'), '-I', FUZZ_DIR];

function buildTarget(name: string, targetSource: string, spec: TargetSpec): string {
  return buildNative({
    name: `fuzz_replay_${name}`,
    sources: [targetSource, DRIVER, ...spec.sources.flatMap(expand)],
    flags: ['-std=c++17', '-O1', '-g', '-Wall', '-Wextra', ...SANITIZE, ...INCLUDE],
    linkFlags: spec.libs.map((l) => `-l${l}`),
    // Headers only: a change to one target (or to the corpus) rebuilds only that target.
    deps: [path.join(REPO_ROOT, 'native'), path.join(FUZZ_DIR, 'fuzz_input.h')],
  });
}

/** Runs the driver on files/directories; the environment without LD_PRELOAD (test:asan sets it for node). */
function replay(binary: string, inputs: string[]): { status: number | null; output: string } {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ASAN_OPTIONS: 'detect_leaks=1:abort_on_error=1',
    UBSAN_OPTIONS: 'print_stacktrace=1',
  };
  delete env.LD_PRELOAD;
  const r = spawnSync(binary, inputs, { encoding: 'utf8', env, timeout: 120_000, maxBuffer: 1 << 26 });
  if (r.error) throw r.error;
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/** Input files (not dotfiles) of a directory, or none if it does not exist. */
function inputFiles(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.')) : [];
}

describe('fuzz targets replay their corpus and regression inputs', () => {
  it('targets.json lists exactly the targets in test/fuzz/targets/, each with a seed corpus', () => {
    const files = fs
      .readdirSync(path.join(FUZZ_DIR, 'targets'))
      .filter((f) => f.endsWith('.cc'))
      .map((f) => f.slice(0, -3))
      .sort();
    expect(Object.keys(TARGETS).sort()).toEqual(files);
    for (const t of files) {
      expect(inputFiles(path.join(FUZZ_DIR, 'corpus', t)).length, `seeds of ${t}`).toBeGreaterThan(0);
    }
    // Regression inputs only for targets that exist (a renamed target must take its inputs along).
    const regressions = path.join(FUZZ_DIR, 'regressions');
    for (const t of fs.existsSync(regressions) ? fs.readdirSync(regressions) : []) expect(files).toContain(t);
  });

  it('the driver fails on a finding (a FUZZ_CHECK that does not hold)', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-fuzz-'));
    try {
      const source = path.join(REPO_ROOT, 'test', 'native', 'fuzz_always_fails.cc');
      const binary = buildTarget('always_fails', source, { sources: [], libs: [] });
      fs.writeFileSync(path.join(dir, 'fine'), 'A');
      expect(replay(binary, [path.join(dir, 'fine')]).status).toBe(0);
      fs.writeFileSync(path.join(dir, 'boom'), 'B');
      const r = replay(binary, [path.join(dir, 'boom')]);
      expect(r.status).not.toBe(0);
      expect(r.output).toContain('FUZZ_CHECK failed');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const [name, spec] of Object.entries(TARGETS)) {
    it(`${name}: every seed and regression input runs clean under ASan/UBSan`, { timeout: 240_000 }, () => {
      const binary = buildTarget(name, path.join(FUZZ_DIR, 'targets', `${name}.cc`), spec);
      const dirs = ['corpus', 'regressions'].map((d) => path.join(FUZZ_DIR, d, name)).filter((d) => fs.existsSync(d));
      const expected = dirs.reduce((n, d) => n + inputFiles(d).length, 0);
      const r = replay(binary, dirs);
      expect(r.status, r.output.slice(-4000)).toBe(0);
      expect(r.output).toContain(`ran ${expected} inputs`);
    });
  }
});
