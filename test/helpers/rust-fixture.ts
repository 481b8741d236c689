// Compiles the Rust fixtures (test/fixtures/*.rs) with rustc at test time, once per symbol
// mangling scheme, and caches the binaries in os.tmpdir()/stackshot-fixtures/<hash>/ like the C
// fixtures (temporary name + rename, so concurrent workers never see half a binary).
//
// Flags hold for Debian 12's rustc 1.63 (what CI installs) and later:
// - v0: `-C symbol-mangling-version=v0`, stable since Rust 1.59.
// - legacy: the default of every stable rustc so far, but naming it explicitly
//   (`-C symbol-mangling-version=legacy`) needs `-Z unstable-options`, which stable rustc
//   takes only with RUSTC_BOOTSTRAP=1. Named explicitly so that a rustc whose default moved
//   to v0 still builds the legacy variant.
// The standard library linked in is mangled as the toolchain's was built (legacy in
// Debian's 1.63, v0 in recent rustup toolchains), whatever the fixture's own scheme.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCached, FIXTURES_DIR } from './fixtures';
import { have } from './tools';

export type RustMangling = 'v0' | 'legacy';

export const RUST_MANGLINGS: readonly RustMangling[] = ['v0', 'legacy'];

const MANGLING_FLAGS: Readonly<Record<RustMangling, readonly string[]>> = {
  v0: ['-C', 'symbol-mangling-version=v0'],
  legacy: ['-Z', 'unstable-options', '-C', 'symbol-mangling-version=legacy'],
};

/**
 * Unoptimized, so every generic instantiation and closure keeps its own function and frame;
 * without overflow checks, as the fixture adds up values only to keep them used.
 */
const COMMON_FLAGS: readonly string[] = [
  '--edition',
  '2021',
  '-C',
  'opt-level=0',
  '-C',
  'overflow-checks=off',
  '-C',
  'force-frame-pointers=yes',
];

/** Whether `rustc` is on PATH. */
export function haveRustc(): boolean {
  return have('rustc');
}

/**
 * rustc's environment: ours without LD_PRELOAD, which under the AddressSanitizer run
 * (scripts/build-asan.sh) holds the ASan runtime, meant for node and fatal to rustc.
 */
function rustcEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env.LD_PRELOAD;
  return env;
}

let rustcId: string | undefined;
/** `rustc -vV`: version, commit and host (which also keys the cache). */
export function rustcIdentity(): string {
  rustcId ??= execFileSync('rustc', ['-vV'], { encoding: 'utf8', env: rustcEnv() }).trim();
  return rustcId;
}

/** The host triple rustc builds for. */
export function rustcHost(): string {
  const m = /^host: (\S+)$/m.exec(rustcIdentity());
  if (!m) throw new Error(`no host in rustc -vV:\n${rustcIdentity()}`);
  return m[1];
}

/** The toolchain's own library directory (libstd and friends, as .rlib and .so). */
export function rustTargetLibDir(): string {
  const sysroot = execFileSync('rustc', ['--print', 'sysroot'], { encoding: 'utf8', env: rustcEnv() }).trim();
  return path.join(sysroot, 'lib', 'rustlib', rustcHost(), 'lib');
}

/** The rustc flags of one variant (before `-o`). */
export function rustFixtureFlags(mangling: RustMangling): string[] {
  return [...COMMON_FLAGS, ...MANGLING_FLAGS[mangling]];
}

/** Compiles test/fixtures/<name>.rs with the scheme's mangling; returns the binary's path. */
export function compileRustFixture(name: string, mangling: RustMangling): string {
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`bad fixture name: ${JSON.stringify(name)}`);
  const src = path.join(FIXTURES_DIR, `${name}.rs`);
  const flags = rustFixtureFlags(mangling);
  return buildCached(name, [rustcIdentity(), flags.join(' '), fs.readFileSync(src)], (tmp) => {
    const args = [...flags, '-o', tmp, src];
    try {
      const env = rustcEnv(mangling === 'legacy' ? { RUSTC_BOOTSTRAP: '1' } : {});
      execFileSync('rustc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`compiling ${name}.rs (${mangling}) failed: rustc ${args.join(' ')}\n${e.stderr ?? e.message}`, {
        cause: err,
      });
    }
  });
}
