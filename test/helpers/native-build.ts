// Compiles native test drivers (and compile-only checks) at test time and caches the results in
// os.tmpdir()/stackshot-native/<hash>/, like test/helpers/fixtures.ts does for fixtures. The
// hash covers the compiler's identity, the arguments, and the content of every source and
// dependency (headers: pass their directory in `deps`), so editing any of them rebuilds.
//
// Concurrency: several vitest workers may build the same thing at once. Each builds under its
// own temporary name in the cache directory and renames the result into place (atomic within a
// file system), so a reader sees either nothing or a complete binary.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Repository root (test/helpers/../..). */
export const REPO_ROOT: string = path.resolve(__dirname, '..', '..');

export interface NativeBuild {
  /** Output name: the binary's file name (or the stamp's, for compileOnly). */
  name: string;
  /** Compiler command: 'g++', 'gcc', 'aarch64-linux-gnu-gcc', … */
  compiler?: string;
  /** Source files (absolute, or relative to the repository root). */
  sources: readonly string[];
  /** Flags passed before the sources (e.g. -std=c++17 -O2 -Inative). */
  flags?: readonly string[];
  /** Flags passed after the sources (libraries: -lpthread …). */
  linkFlags?: readonly string[];
  /** Files or directories (recursively) whose content also keys the cache: the headers. */
  deps?: readonly string[];
  /** Only compile (-c) each source; the result is a stamp file proving it compiled. */
  compileOnly?: boolean;
}

/** Root of the cache. STACKSHOT_NATIVE_CACHE overrides os.tmpdir()/stackshot-native. */
export function nativeCacheRoot(): string {
  return process.env.STACKSHOT_NATIVE_CACHE || path.join(os.tmpdir(), 'stackshot-native');
}

const compilerIds = new Map<string, string>();
function compilerIdentity(compiler: string): string {
  let id = compilerIds.get(compiler);
  if (id === undefined) {
    const version = execFileSync(compiler, ['-dumpfullversion', '-dumpversion'], { encoding: 'utf8' }).trim();
    const machine = execFileSync(compiler, ['-dumpmachine'], { encoding: 'utf8' }).trim();
    id = `${compiler} ${version} ${machine}`;
    compilerIds.set(compiler, id);
  }
  return id;
}

/** Whether a compiler can be run (e.g. the aarch64 cross compiler may not be installed). */
export function hasCompiler(compiler: string): boolean {
  try {
    compilerIdentity(compiler);
    return true;
  } catch {
    return false;
  }
}

function resolve(p: string): string {
  return path.isAbsolute(p) ? p : path.join(REPO_ROOT, p);
}

/** Every file under the given files/directories, sorted, for hashing. */
function depFiles(deps: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string): void => {
    const st = fs.statSync(p);
    if (st.isDirectory()) {
      for (const e of fs.readdirSync(p).sort()) walk(path.join(p, e));
    } else {
      out.push(p);
    }
  };
  for (const d of deps) walk(resolve(d));
  return out;
}

/**
 * Build (or find in the cache) and return the absolute path of the binary, or of the stamp for
 * compileOnly builds. Synchronous. Throws with the compiler's output when the build fails.
 */
export function buildNative(b: NativeBuild): string {
  if (!/^[A-Za-z0-9_.-]+$/.test(b.name)) throw new Error(`bad build name: ${JSON.stringify(b.name)}`);
  const compiler = b.compiler ?? 'g++';
  const sources = b.sources.map(resolve);
  const flags = [...(b.flags ?? [])];
  const linkFlags = [...(b.linkFlags ?? [])];
  const hash = createHash('sha256');
  hash.update(compilerIdentity(compiler)).update('\0');
  hash.update(JSON.stringify({ flags, linkFlags, compileOnly: !!b.compileOnly })).update('\0');
  for (const f of [...sources, ...depFiles(b.deps ?? [])]) {
    hash.update(f).update('\0').update(fs.readFileSync(f)).update('\0');
  }
  const dir = path.join(nativeCacheRoot(), hash.digest('hex').slice(0, 24));
  const out = path.join(dir, b.name);
  if (fs.existsSync(out)) return out;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${b.name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let args: string[];
  let cwd: string | undefined;
  if (b.compileOnly) {
    // Objects go to a private scratch directory; only the stamp is kept.
    cwd = `${tmp}.d`;
    fs.mkdirSync(cwd);
    args = [...flags, '-c', ...sources];
  } else {
    args = [...flags, '-o', tmp, ...sources, ...linkFlags];
  }
  try {
    execFileSync(compiler, args, { encoding: 'utf8', cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    if (b.compileOnly) {
      fs.writeFileSync(tmp, JSON.stringify({ compiler: compilerIdentity(compiler), args }, null, 2) + '\n');
    }
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    const e = err as { stderr?: string; message: string };
    throw new Error(`build ${b.name} failed: ${compiler} ${args.join(' ')}\n${e.stderr ?? e.message}`, { cause: err });
  } finally {
    if (cwd) fs.rmSync(cwd, { recursive: true, force: true });
  }
  fs.renameSync(tmp, out);
  return out;
}
