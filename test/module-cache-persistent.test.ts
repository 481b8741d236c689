// The persistent module cache, through the real CLI (each run a fresh process): a file rebuilt
// in place is never served from a stale entry; a damaged entry is ignored and written anew;
// two CLIs filling the same entries at once leave valid ones; a directory that is not ours (or
// that others may write) is refused with a warning; --no-cache and STACKSHOT_CACHE=off write
// nothing. Every test points STACKSHOT_CACHE_DIR at its own temporary directory.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prune } from '../src/cache/cache-file';
import { resetCacheDir } from '../src/cache/cache-dir';
import { symbolsKey, symbolTableFor } from '../src/cache/symbol-cache';
import { cachedV8Symbols } from '../src/cache/v8-metadata-cache';
import { readV8Symbols } from '../src/runtimes/v8/metadata';
import { ElfFile, FdSource } from '../src/elf/elf-file';
import { symbolSources, SymbolTable } from '../src/elf/symbols';
import { binding } from '../src/addon';
import { startTarget, stopAllTargets, type Target } from './helpers/target';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const ADDON_BUILT = fs.existsSync(path.join(ROOT, 'build', 'Release', 'stackshot.node'));
const HAVE_GCC = spawnSync('sh', ['-c', 'command -v gcc']).status === 0;
const IS_ROOT = process.geteuid?.() === 0;

// The library's inner function is static (named by .symtab only) and its name differs between
// the two builds; both names have the same length, so the two files have the same size.
const libSource = (inner: string): string => `
#include <unistd.h>
__attribute__((noinline)) static void ${inner}(void) { for (;;) pause(); }
void cache_fixture_entry(void) { ${inner}(); __asm__ volatile(""); }
`;
const MAIN_SOURCE = `
#include <stdio.h>
void cache_fixture_entry(void);
int main(void) { puts("ready"); fflush(stdout); cache_fixture_entry(); return 0; }
`;

let dir: string;
let lib: string;
let main: string;

function buildLib(inner: string, out: string): void {
  const src = path.join(dir, `${inner}.c`);
  fs.writeFileSync(src, libSource(inner));
  // No build-id: only the file's identity (its ctime, here) tells the two builds apart.
  execFileSync('gcc', ['-O1', '-g', '-shared', '-fPIC', '-Wl,--build-id=none', src, '-o', out]);
}

/** The cache key of the library's symbols as it is on disk now. */
function libKey(): string | null {
  const fd = fs.openSync(lib, 'r');
  try {
    const elf = new ElfFile(new FdSource(fd));
    return symbolsKey(symbolSources(elf), elf);
  } finally {
    fs.closeSync(fd);
  }
}

function newCacheDir(): string {
  return fs.mkdtempSync(path.join(dir, 'cache-'));
}

/** Runs `body` on node's own ELF file with STACKSHOT_CACHE_DIR set to a new, empty directory. */
function withNodeUnderCache(body: (elf: ElfFile, cache: string) => void): void {
  const cache = newCacheDir();
  const saved = process.env.STACKSHOT_CACHE_DIR;
  process.env.STACKSHOT_CACHE_DIR = cache;
  resetCacheDir();
  const fd = fs.openSync(process.execPath, 'r');
  try {
    body(new ElfFile(new FdSource(fd)), cache);
  } finally {
    fs.closeSync(fd);
    process.env.STACKSHOT_CACHE_DIR = saved;
    resetCacheDir();
  }
}

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cliEnv(cacheDir: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', STACKSHOT_CACHE_DIR: cacheDir, ...extra };
  delete env.NODE_OPTIONS;
  delete env.STACKSHOT_CACHE;
  return { ...env, ...extra };
}

function cli(pid: number, cacheDir: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [CLI, String(pid), ...args], {
    encoding: 'utf8',
    env: cliEnv(cacheDir, env),
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function cliAsync(pid: number, cacheDir: string): Promise<Run> {
  const child = spawn(process.execPath, [CLI, String(pid)], { env: cliEnv(cacheDir) });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** The cache's entries: name → bytes. */
function entries(cacheDir: string): Map<string, Buffer> {
  return new Map(fs.readdirSync(cacheDir).map((f) => [f, fs.readFileSync(path.join(cacheDir, f))]));
}

async function withTarget<T>(fn: (t: Target) => T | Promise<T>): Promise<T> {
  const t = await startTarget(main, [], { env: { ...process.env, LD_LIBRARY_PATH: dir } });
  try {
    return await fn(t);
  } finally {
    await t.stop();
  }
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-cache-'));
  lib = path.join(dir, 'libcachefix.so');
  if (!HAVE_GCC) return;
  buildLib('alpha_inner', lib);
  main = path.join(dir, 'cache-main');
  const mainSrc = path.join(dir, 'main.c');
  fs.writeFileSync(mainSrc, MAIN_SOURCE);
  execFileSync('gcc', ['-O1', '-g', mainSrc, '-o', main, `-L${dir}`, '-lcachefix', `-Wl,-rpath,${dir}`]);
});

afterAll(async () => {
  await stopAllTargets();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ADDON_BUILT || !HAVE_GCC)('the persistent module cache (needs the built addon and gcc)', () => {
  it('a library rebuilt in place (same inode, same size, mtime put back) is named from the new file', async () => {
    const cache = newCacheDir();
    const PINNED = 1_700_000_000; // whole seconds: set back exactly after the rewrite
    fs.utimesSync(lib, PINNED, PINNED);
    const first = await withTarget((t) => cli(t.pid, cache));
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/alpha_inner/);
    expect(fs.readdirSync(cache).length).toBeGreaterThan(0);
    const before = fs.statSync(lib);
    const keyBefore = libKey();
    const rebuilt = path.join(dir, 'rebuilt.so');
    buildLib('omega_inner', rebuilt);
    fs.writeFileSync(lib, fs.readFileSync(rebuilt)); // truncates and rewrites the same inode
    fs.utimesSync(lib, PINNED, PINNED);
    const after = fs.statSync(lib);
    expect([after.ino, after.size, after.mtimeMs]).toEqual([before.ino, before.size, before.mtimeMs]);
    // Nothing but the change time (and the bytes) differs, and the key follows it.
    expect(libKey()).not.toBe(keyBefore);
    const second = await withTarget((t) => cli(t.pid, cache));
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/omega_inner/);
    expect(second.stdout).not.toMatch(/alpha_inner/);
  });

  it('truncated and corrupt entries are ignored, and written anew', async () => {
    await withTarget(async (t) => {
      const cache = newCacheDir();
      const clean = cli(t.pid, cache);
      expect(clean.status, clean.stderr).toBe(0);
      const good = entries(cache);
      const names = [...good.keys()].sort((a, b) => good.get(b)!.length - good.get(a)!.length);
      expect(names.length).toBeGreaterThanOrEqual(2);
      const [big, next] = names as [string, string];
      fs.truncateSync(path.join(cache, big), Math.floor(good.get(big)!.length / 2));
      const flipped = Buffer.from(good.get(next)!);
      flipped[flipped.length - 3] ^= 0x5a; // in the index columns, past the header
      fs.writeFileSync(path.join(cache, next), flipped);
      const again = cli(t.pid, cache);
      expect(again.status, again.stderr).toBe(0);
      const strip = (s: string) => s.split('\n').slice(1).join('\n'); // the title holds timings
      expect(strip(again.stdout)).toBe(strip(clean.stdout));
      const rewritten = entries(cache);
      expect(rewritten.get(big)).toEqual(good.get(big));
      expect(rewritten.get(next)).toEqual(good.get(next));
    });
  });

  it('--lines: a line table is read from its entry the next time, with the same lines; a damaged one is written anew', async () => {
    await withTarget((t) => {
      const cache = newCacheDir();
      const strip = (s: string) => s.split('\n').slice(1).join('\n'); // the title holds timings
      // Compared with Buffer.equals: libc's entry is 5.7 MB, too big for toEqual's walk.
      const lineEntries = () => [...entries(cache)].filter(([name]) => name.startsWith('lines-'));
      const same = (a: [string, Buffer][], b: [string, Buffer][]) =>
        a.length === b.length && a.every(([name, bytes], i) => b[i]![0] === name && b[i]![1].equals(bytes));
      const first = cli(t.pid, cache, ['--lines']);
      expect(first.status, first.stderr).toBe(0);
      expect(first.stdout).toMatch(/_inner\.c:\d+/); // the library's frame, from its .debug_line
      const good = lineEntries();
      expect(good.length).toBeGreaterThan(0);
      const again = cli(t.pid, cache, ['--lines']);
      expect(strip(again.stdout)).toBe(strip(first.stdout));
      expect(same(lineEntries(), good)).toBe(true);
      for (const [name, bytes] of good) {
        const flipped = Buffer.from(bytes);
        flipped[flipped.length - 5] ^= 0x5a; // in the rows, past the header
        fs.writeFileSync(path.join(cache, name), flipped);
      }
      const damaged = cli(t.pid, cache, ['--lines']);
      expect(strip(damaged.stdout)).toBe(strip(first.stdout));
      expect(same(lineEntries(), good)).toBe(true);
    });
  });

  it('two CLIs filling the same entries at once leave valid, complete entries', async () => {
    await withTarget(async (t) => {
      const reference = newCacheDir();
      expect(cli(t.pid, reference).status).toBe(0);
      const shared = newCacheDir();
      const runs = await Promise.all([cliAsync(t.pid, shared), cliAsync(t.pid, shared)]);
      for (const r of runs) expect(r.status, r.stderr).toBe(0);
      // Same entries as one run alone, byte for byte, and no temporary file left behind.
      expect(entries(shared)).toEqual(entries(reference));
      const third = cli(t.pid, shared);
      expect(third.status).toBe(0);
      expect(third.stdout).toMatch(/alpha_inner|omega_inner/);
    });
  });

  it('--no-cache and STACKSHOT_CACHE=off neither read nor write the cache', async () => {
    await withTarget((t) => {
      const cache = newCacheDir();
      expect(cli(t.pid, cache, ['--no-cache']).status).toBe(0);
      expect(cli(t.pid, cache, [], { STACKSHOT_CACHE: 'off' }).status).toBe(0);
      expect(fs.readdirSync(cache)).toEqual([]);
    });
  });

  it.skipIf(!IS_ROOT)(
    'as root, a directory owned by another user or writable by others is not used, with a warning',
    async () => {
      await withTarget((t) => {
        const foreign = newCacheDir();
        fs.chownSync(foreign, 65534, 65534);
        const open = newCacheDir();
        fs.chmodSync(open, 0o777);
        for (const [cache, why] of [
          [foreign, /owned by uid 65534/],
          [open, /writable by others/],
        ] as const) {
          const r = cli(t.pid, cache);
          expect(r.status, r.stderr).toBe(0);
          expect(r.stdout).toMatch(/alpha_inner|omega_inner/);
          expect(r.stderr).toMatch(/not using the module cache directory/);
          expect(r.stderr).toMatch(why);
          expect(fs.readdirSync(cache)).toEqual([]);
        }
      });
    },
  );

  it.skipIf(!IS_ROOT)('an entry another user owns is not read, and is replaced by our own', async () => {
    await withTarget((t) => {
      const cache = newCacheDir();
      expect(cli(t.pid, cache).status).toBe(0);
      for (const f of fs.readdirSync(cache)) fs.chownSync(path.join(cache, f), 65534, 65534);
      const r = cli(t.pid, cache);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/alpha_inner|omega_inner/);
      for (const f of fs.readdirSync(cache)) expect(fs.statSync(path.join(cache, f)).uid).toBe(0);
    });
  });
});

describe('the cache directory stays under its budget', () => {
  it('removes the least recently used entries, and nothing that is not an entry', () => {
    const cache = newCacheDir();
    const names = ['a', 'b', 'c', 'd'].map((c) => `sym-${c.repeat(40)}.bin`);
    names.forEach((n, i) => {
      fs.writeFileSync(path.join(cache, n), Buffer.alloc(1000));
      fs.utimesSync(path.join(cache, n), 1000 + i, 1000 + i); // a oldest … d newest
    });
    fs.writeFileSync(path.join(cache, 'notes.txt'), Buffer.alloc(5000));
    prune(cache, 3000);
    expect(fs.readdirSync(cache).sort()).toEqual(['notes.txt', names[2], names[3]].sort());
  });
});

describe("node's V8 metadata through the cache", () => {
  it('a filled entry gives what reading the binary gives; a damaged one is read anew', () => {
    withNodeUnderCache((elf, cache) => {
      const tables = new Map<string, Buffer>();
      const direct = readV8Symbols(elf, tables);
      expect(direct.size).toBeGreaterThan(100); // node carries its post-mortem metadata
      const read = (): [Map<string, number>, Map<string, Buffer>] => {
        const t = new Map<string, Buffer>();
        return [cachedV8Symbols(elf, t), t];
      };
      expect(read()).toEqual([direct, tables]); // miss: read and stored
      const [entry] = fs.readdirSync(cache).filter((f) => f.startsWith('v8meta-'));
      expect(entry).toBeDefined();
      expect(read()).toEqual([direct, tables]); // hit
      const file = path.join(cache, entry!);
      const original = fs.readFileSync(file, 'utf8');
      const damaged = original.replace(/"v8dbg_(\w+)",(-?\d+)/, '"v8dbg_$1",7$2'); // one value changed
      expect(damaged).not.toBe(original);
      fs.writeFileSync(file, damaged);
      expect(read()).toEqual([direct, tables]); // checksum fails: read from the binary again
    });
  });

  it.skipIf(!ADDON_BUILT)('(needs the addon) a hit names from the file lazily, as the binary itself does', () => {
    withNodeUnderCache((elf) => {
      const sources = symbolSources(elf);
      const direct = new SymbolTable(sources);
      expect(direct.length).toBeGreaterThan(1000);
      symbolTableFor(sources, elf).close(); // miss: merged and stored
      const hit = symbolTableFor(sources, elf);
      // Its names live in the file, not in memory: the index is all it weighs.
      expect(hit.bytes).toBe(direct.length * 30);
      expect(hit.bytes).toBeLessThan(direct.bytes);
      // A few names, read one by one; then every name (the table reads itself whole).
      const some = [0, 1, direct.length >> 1, direct.length - 1];
      expect(some.map((k) => hit.name(k))).toEqual(some.map((k) => direct.name(k)));
      for (let k = 0; k < direct.length; k++)
        if (hit.name(k) !== direct.name(k)) expect([k, hit.name(k)]).toBe(direct.name(k));
      hit.close();
    });
  });

  it.skipIf(!ADDON_BUILT)(
    '(needs the addon) a stored index pointing outside its strings, or at a later parent, is refused',
    () => {
      const index = (nameOff: number[], parent: number[], table = nameOff.map(() => 0)) => ({
        hi: new Uint32Array(nameOff.length),
        lo: new Uint32Array(nameOff.length),
        size: new Float64Array(nameOff.length),
        nameOff: Uint32Array.from(nameOff),
        table: Uint16Array.from(table),
        parent: Int32Array.from(parent),
      });
      expect(binding.checkSymbolIndex(index([0, 9], [-1, 0]), [10])).toBe(true);
      expect(binding.checkSymbolIndex(index([0, 10], [-1, 0]), [10])).toBe(false); // name past its table
      expect(binding.checkSymbolIndex(index([0, 1], [-1, 0], [0, 1]), [10])).toBe(false); // no table 1
      expect(binding.checkSymbolIndex(index([0, 1], [1, -1]), [10])).toBe(false); // parent after it
      expect(binding.checkSymbolIndex(index([0, 1], [-1, 1]), [10])).toBe(false); // its own parent
      expect(binding.checkSymbolIndex(index([0, 1], [-2, -1]), [10])).toBe(false);
    },
  );
});
