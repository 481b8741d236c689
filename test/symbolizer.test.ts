import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseMaps } from '../src/procfs/maps';
import { PerfMapCache } from '../src/symbolize/perf-map';
import { ModuleRegistry } from '../src/symbolize/module-registry';
import { NamedPc, PcToName, Symbolizer } from '../src/symbolize/symbolizer';
import { buildIdDebugPath, readelf, readelfFunctions, runtimeAddress } from './helpers/readelf';

const libcDebugFile = (libc: string): string => buildIdDebugPath(libc)!;

// ---- a target process that tells us where its functions are ----

const TARGET = String.raw`
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
__attribute__((noinline)) int leaf_alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) static int local_beta(int x) { return leaf_alpha(x) ^ 0x55; }
int mangled_fn(int x) __asm__("_Z7mangledi");
__attribute__((noinline)) int mangled_fn(int x) { return local_beta(x) - 1; }
/* In its own PT_LOAD, 256 MiB up: a segment whose offset-to-vaddr delta differs from the first. */
__attribute__((noinline, section(".farcode"))) int far_away(int x) { return mangled_fn(x) * 5; }
int main(void) {
  void *jit = mmap(0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  printf("leaf_alpha %p\nlocal_beta %p\nmangled %p\nmain %p\n", (void *)leaf_alpha, (void *)local_beta, (void *)mangled_fn, (void *)main);
  printf("far_away %p\n", (void *)far_away);
  printf("printf %p\nnanosleep %p\njit %p\nready\n", dlsym(RTLD_DEFAULT, "printf"), dlsym(RTLD_DEFAULT, "nanosleep"), jit);
  fflush(stdout);
  pause();
  return mangled_fn(1);
}
`;

interface Target {
  child: ChildProcess;
  pid: number;
  exe: string;
  addr: Record<string, bigint>;
}

async function startTarget(exe: string): Promise<Target> {
  const child = spawn(exe, [], { stdio: ['ignore', 'pipe', 'inherit'] });
  const addr: Record<string, bigint> = {};
  await new Promise<void>((resolve, reject) => {
    let text = '';
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`${exe} exited with ${code}`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (!text.includes('ready\n')) return;
      for (const line of text.split('\n')) {
        const m = /^(\w+) (0x[0-9a-f]+)$/.exec(line);
        if (m) addr[m[1]] = BigInt(m[2]);
      }
      resolve();
    });
  });
  return { child, pid: child.pid!, exe, addr };
}

const mapsOf = (pid: number): string => fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
const exact = (pc: bigint): PcToName => ({ pc, isReturnAddress: false });

let dir = '';
let pie: Target;
let nopie: Target;
const targets: Target[] = [];
let libc = '';

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-sym-'));
  fs.writeFileSync(path.join(dir, 'target.c'), TARGET);
  const far = '-Wl,--section-start=.farcode=0x10000000';
  execFileSync('gcc', ['-O1', '-fPIE', '-pie', far, '-o', 'target-pie', 'target.c'], { cwd: dir });
  execFileSync('gcc', ['-O1', '-fno-pie', '-no-pie', far, '-o', 'target-nopie', 'target.c'], { cwd: dir });
  pie = await startTarget(path.join(dir, 'target-pie'));
  nopie = await startTarget(path.join(dir, 'target-nopie'));
  targets.push(pie, nopie);
  libc = parseMaps(mapsOf(process.pid)).find((m) => /\/libc\.so\.6$/.test(m.path))!.path;
});

afterAll(() => {
  for (const t of targets) t.child.kill('SIGKILL');
  for (const t of targets)
    try {
      fs.unlinkSync(`/tmp/perf-${t.pid}.map`);
    } catch {
      /* not written */
    }
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('Symbolizer on running processes', () => {
  it('names functions of PIE and non-PIE executables at the addresses they print', () => {
    for (const t of [pie, nopie]) {
      const s = new Symbolizer();
      const maps = mapsOf(t.pid);
      const entries = parseMaps(maps);
      const { addr } = t;
      const out = s.symbolize(t.pid, maps, [
        exact(addr.leaf_alpha),
        exact(addr.local_beta + 2n),
        { pc: addr.leaf_alpha + 1n, isReturnAddress: true },
        exact(addr.main),
        exact(addr.mangled),
        { pc: addr.far_away + 3n, isReturnAddress: true },
      ]);
      expect(out.map((n) => n.symbol)).toEqual([
        'leaf_alpha',
        'local_beta',
        'leaf_alpha',
        'main',
        '_Z7mangledi',
        'far_away',
      ]);
      expect(out.map((n) => n.symbolOffset)).toEqual([0, 2, 1, 0, 0, 3]);
      for (const n of out) expect(n.module).toBe(t.exe);
      const m = entries.find((e) => e.start <= addr.leaf_alpha && addr.leaf_alpha < e.end)!;
      expect(out[0].moduleOffset).toBe(addr.leaf_alpha - m.start + m.offset);
      // A return address at a function's first byte belongs to the caller before it.
      const [ret] = s.symbolize(t.pid, maps, [{ pc: addr.leaf_alpha, isReturnAddress: true }]);
      expect(ret.symbol).not.toBe('leaf_alpha');
    }
  });

  it("names libc functions the target resolved with dlsym, by the rule's preferred alias", () => {
    const dynsym = readelfFunctions(libc);
    const debug = readelfFunctions(libcDebugFile(libc));
    for (const t of [pie, nopie]) {
      const s = new Symbolizer();
      const [printf, nanosleep] = s.symbolize(t.pid, mapsOf(t.pid), [
        exact(t.addr.printf),
        exact(t.addr.nanosleep + 5n),
      ]);
      expect(printf).toMatchObject({ module: libc, symbol: 'printf', symbolOffset: 0 });
      // nanosleep is a weak alias of the global __nanosleep: global wins.
      const aliases = [
        ...(dynsym.names.get(dynsym.addr.get('nanosleep')!) ?? []),
        ...(debug.names.get(dynsym.addr.get('nanosleep')!) ?? []),
      ];
      expect(aliases).toContain('__nanosleep');
      expect(nanosleep).toMatchObject({ module: libc, symbol: '__nanosleep', symbolOffset: 5 });
    }
  });

  it("names libc internals from libc6-dbg's .symtab in this very process", () => {
    const debug = readelfFunctions(libcDebugFile(libc));
    const maps = mapsOf(process.pid);
    const entries = parseMaps(maps);
    const wanted = ['start_thread', '__futex_abstimed_wait_common', 'clone3', 'malloc', 'epoll_wait'];
    const pcs = wanted.map((name) => ({
      pc: runtimeAddress(entries, libc, debug.addr.get(name)!) + 3n,
      isReturnAddress: true,
    }));
    const out = new Symbolizer().symbolize(process.pid, maps, pcs);
    for (let i = 0; i < wanted.length; i++) {
      const names = debug.names.get(debug.addr.get(wanted[i])!)!;
      expect(names, wanted[i]).toContain(out[i].symbol);
      expect(out[i].symbolOffset).toBe(3);
    }
    expect(out.slice(0, 3).map((n) => n.symbol)).toEqual(['start_thread', '__futex_abstimed_wait_common', 'clone3']);
  });

  it('names the vdso from the target memory, as binutils names its image', () => {
    const entries = parseMaps(mapsOf(pie.pid));
    const vdso = entries.find((e) => e.path === '[vdso]')!;
    const image = Buffer.alloc(Number(vdso.end - vdso.start));
    const fd = fs.openSync(`/proc/${pie.pid}/mem`, 'r');
    fs.readSync(fd, image, 0, image.length, vdso.start);
    fs.closeSync(fd);
    const dump = path.join(dir, 'vdso.so');
    fs.writeFileSync(dump, image);
    const { names } = readelfFunctions(dump);
    expect(names.size).toBeGreaterThan(0);
    const fake = parseMaps(`${vdso.start.toString(16)}-${vdso.end.toString(16)} r-xp 00000000 00:00 0 [vdso]`);
    const pcs = [...names.keys()].map((v) =>
      exact(
        runtimeAddress(
          fake.map((e) => ({ ...e, path: dump })),
          dump,
          v,
        ) + 1n,
      ),
    );
    const out = new Symbolizer().symbolize(pie.pid, mapsOf(pie.pid), pcs);
    [...names.values()].forEach((aliases, i) => {
      expect(out[i].module).toBe('[vdso]');
      expect(aliases).toContain(out[i].symbol);
      expect(out[i].symbolOffset).toBe(1);
    });
  });

  it('names JIT code from /tmp/perf-<pid>.map: newest line wins, malformed lines skipped, appends seen', () => {
    const jit = pie.addr.jit;
    const hex = (a: bigint): string => a.toString(16);
    const perfMap = `/tmp/perf-${pie.pid}.map`;
    fs.writeFileSync(
      perfMap,
      [
        `${hex(jit)} 100 old_code`,
        'garbage',
        `${hex(jit + 0x10n)} 20 newer code with spaces`,
        `${hex(jit)} 8 newest_head`,
        'zzzz 10 bad_hex',
        `${hex(jit + 0x40n)} 0 empty`,
        '',
      ].join('\n'),
    );
    const s = new Symbolizer();
    const maps = mapsOf(pie.pid);
    const look = (): NamedPc[] =>
      s.symbolize(pie.pid, maps, [
        exact(jit),
        exact(jit + 7n),
        exact(jit + 8n),
        exact(jit + 0x12n),
        exact(jit + 0x31n),
        exact(jit + 0x100n),
        { pc: jit + 0x10n, isReturnAddress: true },
      ]);
    const first = look();
    expect(first.map((n) => [n.symbol, n.symbolOffset])).toEqual([
      ['newest_head', 0],
      ['newest_head', 7],
      ['old_code', 8],
      ['newer code with spaces', 2],
      ['old_code', 0x31],
      [null, null],
      ['old_code', 0x10], // looked up at pc − 1, offset from the real pc
    ]);
    for (const n of first) expect(n.module).toBe('[anon]');
    expect(first[5].reason).toBe('not-in-perf-map');
    fs.appendFileSync(perfMap, `${hex(jit + 0x30n)} 4 appended\n`);
    expect(look()[4]).toMatchObject({ symbol: 'appended', symbolOffset: 1 });
    fs.rmSync(perfMap);
    expect(new Symbolizer().symbolize(pie.pid, maps, [exact(jit)])[0]).toMatchObject({
      symbol: null,
      reason: 'no-perf-map',
    });
  });

  it('still names a binary deleted after it started, through map_files', async () => {
    const exe = path.join(dir, 'target-deleted');
    fs.copyFileSync(pie.exe, exe);
    fs.chmodSync(exe, 0o755);
    const t = await startTarget(exe);
    targets.push(t);
    fs.unlinkSync(exe);
    const maps = mapsOf(t.pid);
    expect(parseMaps(maps).some((e) => e.path === exe && e.deleted)).toBe(true);
    const [n] = new Symbolizer().symbolize(t.pid, maps, [exact(t.addr.leaf_alpha + 4n)]);
    expect(n).toMatchObject({ module: exe, symbol: 'leaf_alpha', symbolOffset: 4 });
  });

  it('demangles through the injected demangler, keeping raw names it refuses', () => {
    const maps = mapsOf(pie.pid);
    const pcs = [exact(pie.addr.mangled), exact(pie.addr.leaf_alpha)];
    const asked: string[] = [];
    const cxxfilt = (name: string): string | null => {
      asked.push(name);
      const out = execFileSync('c++filt', [name], { encoding: 'utf8' }).trim();
      return out === name ? null : out;
    };
    expect(new Symbolizer({ demangle: cxxfilt }).symbolize(pie.pid, maps, pcs).map((n) => n.symbol)).toEqual([
      'mangled(int)',
      'leaf_alpha',
    ]);
    expect(asked).toEqual(['_Z7mangledi']); // only _Z names are offered
    expect(new Symbolizer({ demangle: () => null }).symbolize(pie.pid, maps, pcs)[0].symbol).toBe('_Z7mangledi');
    expect(new Symbolizer().symbolize(pie.pid, maps, pcs)[0].symbol).toBe('_Z7mangledi');
  });
});

describe('PerfMapCache', () => {
  it('re-reads the perf map only when it changed, and then only the appended complete lines', () => {
    const pid = nopie.pid; // any live pid whose perf map this test owns
    const file = PerfMapCache.pathFor(pid);
    fs.writeFileSync(file, '1000 10 first\n2000 10 sec');
    const cache = new PerfMapCache();
    const name = (a: bigint): string | undefined => cache.get(pid)?.lookup(a)?.name;
    expect(name(0x1005n)).toBe('first');
    expect(name(0x2005n)).toBeUndefined(); // the last line is still being written
    expect(cache.parses).toBe(1);
    expect(name(0x1005n)).toBe('first');
    expect(cache.parses).toBe(1); // unchanged file: no read
    fs.appendFileSync(file, 'ond\n3000 10 third\n');
    expect(name(0x2005n)).toBe('second');
    expect(name(0x3005n)).toBe('third');
    expect(cache.get(pid)!.entryCount).toBe(3);
    expect(cache.parses).toBe(2);
    fs.writeFileSync(file, '4000 10 rewritten\n'); // shorter: a new file, parsed from the start
    expect(name(0x1005n)).toBeUndefined();
    expect(name(0x4000n)).toBe('rewritten');
    fs.unlinkSync(file);
    expect(cache.get(pid)).toBeNull();
  });
});

describe('Symbolizer caching', () => {
  it('parses each file once: a repeated call on an unchanged process reads nothing', () => {
    const s = new Symbolizer();
    const pcs = [exact(pie.addr.leaf_alpha), exact(pie.addr.printf), exact(pie.addr.main)];
    const first = s.symbolize(pie.pid, mapsOf(pie.pid), pcs);
    expect(s.modules.stats.modulesParsed).toBe(2); // the executable and libc
    const hits = s.stats.memoHits;
    // An equal maps text (a fresh string): nothing parsed, every mapping from the cache.
    expect(s.symbolize(pie.pid, mapsOf(pie.pid), pcs)).toEqual(first);
    expect(s.modules.stats.modulesParsed).toBe(2);
    expect(s.stats.memoHits).toBeGreaterThanOrEqual(hits + 3);
    // A maps change elsewhere in the address space: the surviving mappings are still known.
    const changed = mapsOf(pie.pid) + '7ffffff00000-7ffffff01000 r-xp 00000000 00:00 0 \n';
    expect(s.symbolize(pie.pid, changed, pcs)).toEqual(first);
    expect(s.modules.stats.modulesParsed).toBe(2);
    // Another process mapping the same libc: found by file identity; only its executable is new.
    const other = s.symbolize(nopie.pid, mapsOf(nopie.pid), [exact(nopie.addr.printf), exact(nopie.addr.leaf_alpha)]);
    expect(other.map((n) => n.symbol)).toEqual(['printf', 'leaf_alpha']);
    expect(s.modules.stats.modulesParsed).toBe(3);
  });

  it('shares its modules with unwinding: a file parsed for the unwind tables is not parsed again to name, and only named files read symbols', () => {
    const modules = new ModuleRegistry();
    const maps = mapsOf(pie.pid);
    const { rows, load } = modules.unwindMappings(pie.pid, maps);
    // Nothing is parsed until a walk needs a module's table: every code mapping comes pending.
    const pending = [...rows.keys()].filter((i) => i % 4 === 3 && (rows[i] & 2n) !== 0n).map((i) => (i - 3) / 4);
    expect(pending.length).toBeGreaterThan(2);
    expect(modules.stats.modulesParsed).toBe(0);
    for (const row of pending) load(row); // as a walk through every module would
    expect(pending.every((row) => (rows[row * 4 + 3] & 2n) === 0n)).toBe(true);
    expect(pending.some((row) => rows[row * 4 + 3] >> 2n > 0n)).toBe(true); // tables registered
    const parsed = modules.stats.modulesParsed;
    expect(parsed).toBeGreaterThan(2); // every code mapping: the executable, libc, ld.so, the vdso
    expect(modules.stats.symbolsRead).toBe(0); // unwinding reads no symbols
    const s = new Symbolizer({ modules });
    const pcs = [exact(pie.addr.leaf_alpha), exact(pie.addr.printf)];
    expect(s.symbolize(pie.pid, maps, pcs).map((n) => n.symbol)).toEqual(['leaf_alpha', 'printf']);
    expect(s.modules.stats.modulesParsed).toBe(parsed);
    // Only the modules with frames (the executable, libc) had their symbols read: not ld.so.
    expect(s.modules.stats.symbolsRead).toBe(2);
    s.symbolize(pie.pid, maps, pcs);
    expect(s.modules.stats.symbolsRead).toBe(2);
    // A symbolizer of its own parses them anew: the count above is what sharing saved.
    const alone = new Symbolizer();
    alone.symbolize(pie.pid, maps, pcs);
    expect(alone.modules.stats.modulesParsed).toBe(2);
  });

  it('parses one build once: a copy of the executable (another inode) is found by its build-id', async () => {
    expect(readelf('-n', pie.exe)).toMatch(/Build ID: [0-9a-f]+/);
    const copy = path.join(dir, 'target-pie-copy');
    fs.copyFileSync(pie.exe, copy);
    fs.chmodSync(copy, 0o755);
    const twin = await startTarget(copy);
    targets.push(twin);
    const s = new Symbolizer();
    s.symbolize(pie.pid, mapsOf(pie.pid), [exact(pie.addr.leaf_alpha)]);
    const parsed = s.modules.stats.modulesParsed;
    expect(s.symbolize(twin.pid, mapsOf(twin.pid), [exact(twin.addr.leaf_alpha)])[0]).toMatchObject({
      module: copy,
      symbol: 'leaf_alpha',
      symbolOffset: 0,
    });
    expect(s.modules.stats.modulesParsed).toBe(parsed);
  });

  it('stays within its memory budget: modules pushed out are parsed again when needed, and still name and unwind', () => {
    const s = new Symbolizer({ maxCacheBytes: 1 }); // room for one module at a time
    const cfiIds = (pid: number): bigint[] => {
      const { rows, load } = s.modules.unwindMappings(pid, mapsOf(pid));
      for (let row = 0; row < rows.length / 4; row++) if ((rows[row * 4 + 3] & 2n) !== 0n) load(row); // pending
      return [...rows].filter((v, i) => i % 4 === 3 && v >> 2n > 0n).map((v) => v >> 2n);
    };
    const first = cfiIds(pie.pid);
    expect(first.length).toBeGreaterThan(0);
    for (let round = 0; round < 3; round++) {
      for (const t of [pie, nopie]) {
        expect(
          s.symbolize(t.pid, mapsOf(t.pid), [exact(t.addr.leaf_alpha), exact(t.addr.printf)]).map((n) => n.symbol),
        ).toEqual(['leaf_alpha', 'printf']);
        expect(s.modules.cacheSize.modules).toBe(1);
      }
    }
    expect(s.modules.stats.modulesParsed).toBeGreaterThan(6);
    // The released unwind tables' ids are never handed out again: fresh mappings get new ones.
    const again = cfiIds(pie.pid);
    expect(again.length).toBe(first.length);
    for (const id of again) expect(first).not.toContain(id);
    // With the default budget, everything stays.
    const roomy = new Symbolizer();
    for (const t of [pie, nopie])
      roomy.symbolize(t.pid, mapsOf(t.pid), [exact(t.addr.leaf_alpha), exact(t.addr.printf)]);
    expect(roomy.modules.cacheSize.modules).toBe(3);
    expect(roomy.modules.cacheSize.bytes).toBeGreaterThan(0);
    // Source lines make a module bigger (libc's, from libc6-dbg): counted against the budget too.
    const before = roomy.modules.cacheSize.bytes;
    expect(roomy.symbolize(pie.pid, mapsOf(pie.pid), [exact(pie.addr.printf)], { lines: true })[0].file).toMatch(
      /printf/,
    );
    expect(roomy.modules.cacheSize.bytes).toBeGreaterThan(before + 1_000_000);
  });

  it('remembered lookups keep each pc its own offsets (exact and return address at one lookup address)', () => {
    const pcs: PcToName[] = [
      exact(pie.addr.leaf_alpha + 4n),
      { pc: pie.addr.leaf_alpha + 5n, isReturnAddress: true }, // looked up at leaf_alpha + 4 too
      { pc: pie.addr.main + 9n, isReturnAddress: true },
    ];
    const fresh = new Symbolizer().symbolize(pie.pid, mapsOf(pie.pid), pcs);
    const s = new Symbolizer();
    s.symbolize(pie.pid, mapsOf(pie.pid), pcs);
    expect(s.symbolize(pie.pid, mapsOf(pie.pid), pcs)).toEqual(fresh);
    expect(s.symbolize(pie.pid, mapsOf(pie.pid), [...pcs].reverse())).toEqual([...fresh].reverse());
    expect(fresh[0].symbolOffset).toBe(4);
    expect(fresh[1].symbolOffset).toBe(5);
    expect(fresh[1].moduleOffset! - fresh[0].moduleOffset!).toBe(1n);
  });

  it('looks up warm pcs fast', () => {
    const s = new Symbolizer();
    const maps = mapsOf(process.pid);
    const exec = parseMaps(maps).filter((e) => e.perms[2] === 'x' && e.path.startsWith('/'));
    const pcs: PcToName[] = [];
    for (let i = 0; i < 1000; i++) {
      const e = exec[i % exec.length];
      pcs.push({ pc: e.start + ((e.end - e.start) * BigInt(i)) / 1000n, isReturnAddress: true });
    }
    s.symbolize(process.pid, maps, pcs);
    for (let i = 0; i < 20; i++) s.symbolize(process.pid, maps, pcs);
    // Best of several rounds: other work on a shared VM only ever adds time.
    let perPc = Infinity;
    for (let round = 0; round < 10; round++) {
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < 5; i++) s.symbolize(process.pid, maps, pcs);
      perPc = Math.min(perPc, Number(process.hrtime.bigint() - t0) / 5 / pcs.length);
    }
    console.log(`warm symbolize: ${perPc.toFixed(0)} ns per pc`);
    expect(perPc).toBeLessThan(5000); // target < 1 µs (≈ 250 ns on an idle VM); generous for CI
  });
});

describe('Symbolizer on bad input', () => {
  it('gives null symbols, never throws, for corrupt, truncated, missing and unmapped modules', () => {
    const good = fs.readFileSync(pie.exe);
    const random = Buffer.alloc(64 * 1024);
    for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
    const files: Record<string, Buffer> = {
      'random.so': random,
      'truncated.so': good.subarray(0, 3000),
      'header-only.so': good.subarray(0, 64),
      'empty.so': Buffer.alloc(0),
    };
    for (const [name, data] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), data);
    const paths = [...Object.keys(files).map((n) => path.join(dir, n)), path.join(dir, 'missing.so'), dir];
    const lines = paths.map(
      (p, i) =>
        `${(0x10000000 + i * 0x100000).toString(16)}-${(0x10010000 + i * 0x100000).toString(16)} r-xp 00000000 fe:01 0 ${p}`,
    );
    // And a real ELF mapped at a crafted base, to show the same path does name what it can.
    const loads = readelf('-lW', pie.exe)
      .split('\n')
      .map((l) => /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(l))
      .filter((m): m is RegExpExecArray => m !== null);
    const base = 0x20000000n;
    for (const m of loads) {
      const off = BigInt('0x' + m[1]) & ~0xfffn;
      const start = base + (BigInt('0x' + m[2]) & ~0xfffn);
      const end = (base + BigInt('0x' + m[2]) + BigInt('0x' + m[3]) + 0xfffn) & ~0xfffn;
      lines.push(
        `${start.toString(16)}-${end.toString(16)} r-xp ${off.toString(16).padStart(8, '0')} fe:01 0 ${pie.exe}`,
      );
    }
    const leafVaddr = readelfFunctions(pie.exe).addr.get('leaf_alpha')!;
    const pcs = [
      ...paths.map((_, i) => exact(BigInt(0x10000000 + i * 0x100000 + 0x1234))),
      exact(base + leafVaddr + 2n),
      exact(0x10n),
      exact(0x7fff00000000n),
    ];
    const s = new Symbolizer();
    const out = s.symbolize(process.pid, lines.join('\n'), pcs);
    // Each unnamed frame says why: a reason to branch on, and words that point at the cause.
    const why: [string, RegExp][] = [
      ['module-invalid', /^ELF: not an ELF file$/],
      ['module-invalid', /^ELF: read of \d+ bytes at \d+ is outside the 3000-byte file$/],
      ['module-invalid', /^ELF: read of \d+ bytes at \d+ is outside the 64-byte file$/],
      ['module-invalid', /^ELF: too small for an ELF header$/],
      ['module-unreadable', /^cannot open the mapped file$/],
      ['module-unreadable', /^not a regular file$/],
    ];
    paths.forEach((p, i) =>
      expect(out[i]).toEqual({
        module: p,
        moduleOffset: 0x1234n,
        symbol: null,
        symbolOffset: null,
        reason: why[i][0],
        detail: expect.stringMatching(why[i][1]),
      }),
    );
    expect(out[paths.length]).toMatchObject({ module: pie.exe, symbol: 'leaf_alpha', symbolOffset: 2 });
    expect(out[paths.length]).not.toHaveProperty('reason');
    expect(out[paths.length + 1]).toEqual({
      module: null,
      moduleOffset: null,
      symbol: null,
      symbolOffset: null,
      reason: 'no-mapping',
    });
    expect(out[paths.length + 2].module).toBeNull();
    // Through a path (no map_files for crafted ranges), a file whose inode differs from the
    // mapped one on the same device was replaced since: not named.
    const st = fs.statSync(pie.exe);
    const dev = `${(st.dev >> 8).toString(16).padStart(2, '0')}:${(st.dev & 0xff).toString(16).padStart(2, '0')}`;
    const at = (inode: number): string => `40000000-40010000 r-xp 00000000 ${dev} ${inode} ${pie.exe}`;
    const probe = [exact(0x40000000n + readelfFunctions(pie.exe).addr.get('main')!)];
    expect(new Symbolizer().symbolize(process.pid, at(st.ino), probe)[0].symbol).toBe('main');
    expect(new Symbolizer().symbolize(process.pid, at(st.ino + 1), probe)[0]).toMatchObject({
      module: pie.exe,
      symbol: null,
      reason: 'module-changed',
    });
    // Failures are cached too: asking again parses nothing new.
    const parsed = s.modules.stats.modulesParsed;
    s.symbolize(process.pid, lines.join('\n'), pcs);
    expect(s.modules.stats.modulesParsed).toBe(parsed);
  });
});
