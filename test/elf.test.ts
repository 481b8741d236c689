import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { crc32, readBuildId, readDebugLink } from '../src/elf/build-id';
import { ElfError, ElfFile, FdSource, BufferSource } from '../src/elf/elf-file';
import { SymbolHit, symbolSources, SymbolTable } from '../src/elf/symbols';
import { loadElfModule } from '../src/symbolize/module-cache';

// ---- oracles: binutils' view of the same files ----

/** readelf's stdout (its warnings about files without an interpreter are noise here). */
function readelf(option: string, file: string): string {
  return execFileSync('readelf', [option, file], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
}

interface OracleSymbol {
  table: string;
  value: bigint;
  size: number;
  type: string;
  bind: string;
  ndx: string;
  name: string;
}

/** readelf -Ws, every symbol table, version suffixes removed. */
function readelfSymbols(file: string): OracleSymbol[] {
  const out: OracleSymbol[] = [];
  let table = '';
  for (const line of readelf('-Ws', file).split('\n')) {
    const t = /^Symbol table '([^']+)'/.exec(line);
    if (t) {
      table = t[1];
      continue;
    }
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+(\S+)\s+(\w+)\s+(\w+)\s+\w+\s+(?:\[[^\]]*\]\s+)?(\S+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({
      table,
      value: BigInt('0x' + m[1]),
      size: m[2].startsWith('0x') ? parseInt(m[2], 16) : parseInt(m[2], 10),
      type: m[3],
      bind: m[4],
      ndx: m[5],
      name: m[6].replace(/@{1,2}[^@]*$/, ''),
    });
  }
  return out;
}

/** Indices of sections with the X (execute) flag, from readelf -SW. */
function executableSections(file: string): Set<number> {
  const out = new Set<number>();
  for (const line of readelf('-SW', file).split('\n')) {
    const m =
      /^\s*\[\s*(\d+)\].*\s[0-9a-f]{16}\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]{2}\s+([A-Za-z]*)\s+\d+\s+\d+\s+\d+\s*$/.exec(
        line,
      );
    if (m && m[2].includes('X')) out.add(Number(m[1]));
  }
  return out;
}

/** Symbols the table must hold: functions, and sized untyped symbols in code. */
function eligible(file: string, syms: OracleSymbol[]): OracleSymbol[] {
  const exec = executableSections(file);
  return syms.filter((s) => {
    if (!/^\d+$/.test(s.ndx)) return false;
    if (s.name === '') return false;
    if (s.type === 'FUNC' || s.type === 'IFUNC') return true;
    return s.type === 'NOTYPE' && s.size > 0 && exec.has(Number(s.ndx));
  });
}

interface OracleLoad {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

function readelfLoads(file: string): OracleLoad[] {
  const out: OracleLoad[] = [];
  for (const line of readelf('-lW', file).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(line);
    if (m) out.push({ offset: BigInt('0x' + m[1]), vaddr: BigInt('0x' + m[2]), filesz: BigInt('0x' + m[3]) });
  }
  return out;
}

function openElf(file: string): { elf: ElfFile; close: () => void } {
  const fd = fs.openSync(file, 'r');
  return { elf: new ElfFile(new FdSource(fd)), close: () => fs.closeSync(fd) };
}

function tableOf(file: string): SymbolTable {
  const { elf, close } = openElf(file);
  try {
    return new SymbolTable(symbolSources(elf));
  } finally {
    close();
  }
}

/**
 * The table holds exactly the oracle's function addresses, each named by one of its symbols,
 * and every sized symbol's first and last byte look up to a symbol covering them.
 * (Mismatches are collected and compared once: thousands of expect() calls are slow.)
 */
function expectMatchesOracle(table: SymbolTable, oracle: OracleSymbol[]): void {
  const byAddr = new Map<bigint, OracleSymbol[]>();
  for (const s of oracle) byAddr.set(s.value, [...(byAddr.get(s.value) ?? []), s]);
  const problems: string[] = [];
  const starts = new Set<bigint>();
  for (let i = 0; i < table.length; i++) {
    const start = table.start(i);
    starts.add(start);
    const cands = byAddr.get(start) ?? [];
    if (!cands.some((c) => c.name === table.name(i)))
      problems.push(`0x${start.toString(16)}: ${table.name(i)} not in [${cands.map((c) => c.name)}]`);
    // Sized beats unsized when both exist.
    if (cands.some((c) => c.size > 0) && table.symbolSize(i) === 0)
      problems.push(`0x${start.toString(16)}: unsized chosen`);
  }
  for (const a of byAddr.keys()) if (!starts.has(a)) problems.push(`0x${a.toString(16)} missing`);

  const hit: SymbolHit = { index: 0, offset: 0 };
  for (const s of oracle) {
    if (s.size === 0) continue;
    if (!table.lookup(s.value, hit) || table.start(hit.index) !== s.value || hit.offset !== 0)
      problems.push(`lookup ${s.name} start`);
    const last = s.value + BigInt(s.size - 1);
    if (!table.lookup(last, hit)) {
      problems.push(`lookup ${s.name} last byte`);
      continue;
    }
    const start = table.start(hit.index);
    const covers = start <= last && last - start < BigInt(Math.max(1, table.symbolSize(hit.index)));
    if (!covers || hit.offset !== Number(last - start))
      problems.push(`lookup ${s.name} last byte: ${table.name(hit.index)}`);
  }
  expect(problems).toEqual([]);
  expect(table.length).toBe(byAddr.size);
}

// ---- fixtures compiled at test time ----

const PROGRAM = String.raw`
#include <stdio.h>
__attribute__((noinline)) int leaf_alpha(int x) { return x * 3 + 1; }
__attribute__((noinline)) static int local_beta(int x) { return leaf_alpha(x) ^ 0x55; }
__attribute__((noinline)) int gamma_impl(int x) { return local_beta(x) + 2; }
int gamma_weak(int x) __attribute__((weak, alias("gamma_impl")));
int mangled_fn(int x) __asm__("_Z7mangledi");
__attribute__((noinline)) int mangled_fn(int x) { return gamma_weak(x) - 1; }
__attribute__((noinline, section(".farcode"))) int far_away(int x) { return x * 5 + 3; }
__asm__(".text\n.globl asm_notype\nasm_notype:\n nop\n nop\n ret\n.size asm_notype, .-asm_notype\n");
int main(int argc, char **argv) { (void)argv; printf("%d\n", mangled_fn(argc) + far_away(argc)); return 0; }
`;

const LIBRARY = String.raw`
__attribute__((noinline)) static int lib_hidden(int x) { return x * 7; }
__attribute__((noinline)) int lib_exported(int x) { return lib_hidden(x) + 1; }
int lib_second(int x) { return lib_exported(x) * 2; }
`;

let dir = '';
const bin = (name: string): string => path.join(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-elf-'));
  fs.writeFileSync(bin('prog.c'), PROGRAM);
  fs.writeFileSync(bin('lib.c'), LIBRARY);
  const cc = (...args: string[]): void => void execFileSync('gcc', ['-O1', '-g', ...args], { cwd: dir });
  // .farcode gets its own PT_LOAD 256 MiB up, with a file-offset-to-vaddr delta unlike the
  // other segments': a single load bias would misname it.
  const far = '-Wl,--section-start=.farcode=0x10000000';
  cc('-fPIE', '-pie', far, '-o', 'prog-pie', 'prog.c');
  cc('-fno-pie', '-no-pie', far, '-o', 'prog-nopie', 'prog.c');
  cc('-shared', '-fPIC', '-o', 'lib.so', 'lib.c');
  fs.copyFileSync(bin('lib.so'), bin('lib-stripped.so'));
  execFileSync('strip', ['--strip-all', bin('lib-stripped.so')]);
  // A split debug file found through .gnu_debuglink (name + CRC32) next to the binary.
  fs.copyFileSync(bin('lib.so'), bin('lib-linked.so'));
  execFileSync('objcopy', ['--only-keep-debug', bin('lib-linked.so'), bin('lib-linked.so.debug')]);
  execFileSync('strip', ['--strip-all', bin('lib-linked.so')]);
  execFileSync('objcopy', ['--add-gnu-debuglink=lib-linked.so.debug', 'lib-linked.so'], { cwd: dir });
});

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('FdSource', () => {
  it('reads large ranges (huge-page memory) and small ones byte for byte; a file cut short is an ElfError', () => {
    const file = path.join(dir, 'bytes.bin');
    const bytes = Buffer.alloc(3 << 20);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE((i * 2654435761) >>> 0, i);
    fs.writeFileSync(file, bytes);
    const fd = fs.openSync(file, 'r');
    try {
      const source = new FdSource(fd);
      for (const [offset, length] of [
        [0, bytes.length],
        [12345, 2 << 20],
        [(1 << 20) + 7, 1 << 20],
        [100, 4096],
      ]) {
        expect(source.read(offset, length).equals(bytes.subarray(offset, offset + length))).toBe(true);
      }
      fs.truncateSync(file, 1 << 20); // shorter than the size the source was opened with
      expect(() => source.read(0, 2 << 20)).toThrow(ElfError);
      expect(() => source.read(1 << 19, 1 << 20)).toThrow(ElfError);
    } finally {
      fs.closeSync(fd);
    }
  });
});

describe('ElfFile', () => {
  it('reads the PT_LOAD segments readelf reports, and translates file offsets through them', () => {
    const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    for (const file of [bin('prog-pie'), bin('prog-nopie'), bin('lib.so'), libc, fs.realpathSync(process.execPath)]) {
      const { elf, close } = openElf(file);
      try {
        const oracle = readelfLoads(file);
        expect(elf.loads.map((l) => ({ offset: l.offset, vaddr: l.vaddr, filesz: l.filesz }))).toEqual(oracle);
        // Every function's vaddr round-trips through its segment's file offset.
        const funcs = file.endsWith('node') ? [] : eligible(file, readelfSymbols(file));
        for (const s of funcs.slice(0, 400)) {
          const seg = oracle.find((l) => s.value >= l.vaddr && s.value < l.vaddr + l.filesz);
          expect(seg).toBeDefined();
          expect(elf.fileOffsetToVaddr(s.value - seg!.vaddr + seg!.offset)).toBe(s.value);
        }
        const end = oracle.reduce((a, l) => (l.offset + l.filesz > a ? l.offset + l.filesz : a), 0n);
        expect(elf.fileOffsetToVaddr(end + 0x100000n)).toBeUndefined();
      } finally {
        close();
      }
    }
    // Non-PIE: link-time addresses are absolute; PIE: near 0.
    const { elf: nopie, close: c1 } = openElf(bin('prog-nopie'));
    expect(nopie.type).toBe(2);
    expect(nopie.loads[0].vaddr).toBe(0x400000n);
    c1();
  });

  it('reads the GNU build-id and .gnu_debuglink that readelf shows', () => {
    const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    for (const file of [libc, bin('prog-pie'), bin('lib-linked.so')]) {
      const expected = /Build ID: ([0-9a-f]+)/.exec(readelf('-n', file))![1];
      const { elf, close } = openElf(file);
      expect(readBuildId(elf)).toBe(expected);
      close();
    }
    const { elf, close } = openElf(bin('lib-linked.so'));
    const link = readDebugLink(elf);
    close();
    expect(link?.file).toBe('lib-linked.so.debug');
    expect(link?.crc).toBe(crc32(fs.readFileSync(bin('lib-linked.so.debug'))));
  });

  it('computes the IEEE CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
    const data = fs.readFileSync(bin('lib.so'));
    // Incremental equals one-shot; and equals zlib's where this Node has it.
    expect(crc32(data.subarray(1000), crc32(data.subarray(0, 1000)))).toBe(crc32(data));
    const z = (zlib as unknown as { crc32?: (d: Uint8Array) => number }).crc32;
    if (z !== undefined) expect(crc32(data)).toBe(z(data));
  });

  it('rejects what it cannot read with ElfError: not ELF, ELF32, big-endian, truncated', () => {
    const good = fs.readFileSync(bin('prog-pie'));
    const variants: Buffer[] = [
      Buffer.alloc(0),
      Buffer.from('hello world, not an elf file at all, padded to be long enough for a header....'),
    ];
    const elf32 = Buffer.from(good);
    elf32[4] = 1;
    const be = Buffer.from(good);
    be[5] = 2;
    variants.push(elf32, be, good.subarray(0, 40), good.subarray(0, 100));
    for (const v of variants) expect(() => new ElfFile(new BufferSource(v))).toThrow(ElfError);
  });
});

describe('SymbolTable', () => {
  it('matches readelf for PIE, non-PIE and shared objects built here', () => {
    for (const f of ['prog-pie', 'prog-nopie', 'lib.so']) {
      const file = bin(f);
      expectMatchesOracle(tableOf(file), eligible(file, readelfSymbols(file)));
    }
  });

  it('uses .dynsym alone when the file is stripped', () => {
    const file = bin('lib-stripped.so');
    const oracle = readelfSymbols(file);
    expect(oracle.some((s) => s.table === '.symtab')).toBe(false);
    const table = tableOf(file);
    expectMatchesOracle(table, eligible(file, oracle));
    const names = Array.from({ length: table.length }, (_, i) => table.name(i));
    expect(names).toContain('lib_exported');
    expect(names).not.toContain('lib_hidden');
  });

  it("matches readelf on libc's .dynsym and on its separate debug file's .symtab", () => {
    const libc = fs.realpathSync('/lib/x86_64-linux-gnu/libc.so.6');
    expectMatchesOracle(tableOf(libc), eligible(libc, readelfSymbols(libc)));
    const { elf, close } = openElf(libc);
    const id = readBuildId(elf)!;
    close();
    const debug = `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
    expect(fs.existsSync(debug)).toBe(true); // libc6-dbg is installed on this machine
    expectMatchesOracle(tableOf(debug), eligible(debug, readelfSymbols(debug)));
  });

  it('names known functions, prefers global over weak, keeps untyped sized code, matches size-0 exactly', () => {
    const file = bin('prog-pie');
    const oracle = readelfSymbols(file);
    const at = (name: string): OracleSymbol => oracle.find((s) => s.name === name && s.table === '.symtab')!;
    const table = tableOf(file);
    const hit: SymbolHit = { index: 0, offset: 0 };
    for (const name of ['leaf_alpha', 'local_beta', 'main', '_Z7mangledi', 'asm_notype', 'far_away']) {
      const s = at(name);
      expect(s, name).toBeDefined();
      expect(table.lookup(s.value + 1n, hit)).toBe(true);
      expect(table.name(hit.index)).toBe(name);
      expect(hit.offset).toBe(1);
    }
    expect(at('asm_notype').type).toBe('NOTYPE');
    // gamma_weak is a weak alias of gamma_impl: the global name wins.
    expect(at('gamma_weak').value).toBe(at('gamma_impl').value);
    expect(table.lookup(at('gamma_weak').value, hit)).toBe(true);
    expect(table.name(hit.index)).toBe('gamma_impl');
    // Size-0 function symbols (_start, _init, ... in crt files) match only their first byte.
    const unsized = eligible(file, oracle).filter(
      (s) => s.size === 0 && !oracle.some((o) => o.value === s.value && o.size > 0),
    );
    for (const s of unsized) {
      expect(table.lookup(s.value, hit)).toBe(true);
      expect(table.start(hit.index)).toBe(s.value);
      if (table.lookup(s.value + 1n, hit)) expect(table.start(hit.index)).not.toBe(s.value);
    }
  });

  it('looks up full 64-bit addresses exactly', () => {
    // A synthetic ELF with one symbol table whose functions sit near the top of the address space.
    const elfBytes = syntheticElf([
      { value: 0xfffffffffffff000n, size: 0x100, name: 'top_fn' },
      { value: 0x7fffffffffff0000n, size: 0x10, name: 'mid_fn' },
      { value: 0x0000000100000000n, size: 0x20, name: 'above_4g' },
      { value: 0x00000000fffffff0n, size: 0x10, name: 'below_4g' },
    ]);
    const table = new SymbolTable(symbolSources(new ElfFile(new BufferSource(elfBytes))));
    const hit: SymbolHit = { index: 0, offset: 0 };
    const check = (addr: bigint, name: string | null, offset?: number): void => {
      const found = table.lookup(addr, hit);
      expect(found ? table.name(hit.index) : null, addr.toString(16)).toBe(name);
      if (found && offset !== undefined) expect(hit.offset).toBe(offset);
    };
    check(0xfffffffffffff0ffn, 'top_fn', 0xff);
    check(0xfffffffffffff100n, null);
    check(0x7fffffffffff000fn, 'mid_fn', 15);
    check(0x7fffffffffff0010n, null);
    check(0x0000000100000000n, 'above_4g', 0);
    check(0x00000000ffffffffn, 'below_4g', 15);
    check(0x00000000ffffffefn, null);
  });

  it('loads a module with its debug file found through .gnu_debuglink, checking the CRC', () => {
    const file = bin('lib-linked.so');
    const load = (): ReturnType<typeof loadElfModule> => {
      const fd = fs.openSync(file, 'r');
      try {
        return loadElfModule(new FdSource(fd), file, ['']);
      } finally {
        fs.closeSync(fd);
      }
    };
    const names = (m: ReturnType<typeof loadElfModule>): string[] =>
      Array.from({ length: m.symbols!.length }, (_, i) => m.symbols!.name(i));
    const linked = load();
    expect(linked.debugFile).toBe(bin('lib-linked.so.debug'));
    expect(names(linked)).toContain('lib_hidden'); // static: only in the debug file's .symtab
    // Corrupt one byte of the debug file: the CRC no longer matches, so it is not used.
    const dbg = fs.readFileSync(bin('lib-linked.so.debug'));
    dbg[dbg.length - 1] ^= 0xff;
    fs.writeFileSync(bin('lib-linked.so.debug'), dbg);
    const unlinked = load();
    expect(unlinked.debugFile).toBeUndefined();
    expect(names(unlinked)).toContain('lib_exported');
    expect(names(unlinked)).not.toContain('lib_hidden');
  });

  it('survives hostile files: mutated headers and tables never throw out of loadElfModule', () => {
    const good = fs.readFileSync(bin('lib.so'));
    const { elf, close } = openElf(bin('lib.so'));
    const symtab = elf.section('.symtab')!;
    const shoff = Number(good.readBigUInt64LE(40));
    close();
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    // Hot spots: the ELF header, program headers, section headers, the .symtab entries.
    const regions: [number, number][] = [
      [0, 64],
      [64, 56 * 4],
      [shoff, good.length - shoff],
      [symtab.offset, Math.min(symtab.size, 24 * 64)],
    ];
    const started = Date.now();
    for (let round = 0; round < 400; round++) {
      const bad = Buffer.from(good);
      for (let k = 0; k < 1 + rand(8); k++) {
        const [off, len] = regions[rand(regions.length)];
        const at = off + rand(len);
        bad[at] = rand(4) === 0 ? 0xff : rand(256);
      }
      const mod = loadElfModule(new BufferSource(bad), '/nonexistent/lib.so', []);
      expect(mod.symbols === null || mod.symbols.length >= 0).toBe(true);
    }
    // Explicit worst cases: counts and offsets at their maxima.
    const huge = Buffer.from(good);
    huge.writeUInt16LE(0xffff, 56); // e_phnum
    huge.writeUInt16LE(0xffff, 60); // e_shnum
    expect(loadElfModule(new BufferSource(huge), '', []).symbols).toBeNull();
    const farSyms = Buffer.from(good);
    const symHeader = shoff + symtab.index * 64;
    farSyms.writeBigUInt64LE(0xffffffffffff0000n, symHeader + 32); // .symtab sh_size
    const m = loadElfModule(new BufferSource(farSyms), '', []);
    expect(m.symbols).not.toBeNull(); // .dynsym still usable
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

/** Builds a minimal ELF64 LE file: header, .symtab, .strtab, .text (SHF_EXECINSTR), .shstrtab. */
function syntheticElf(syms: { value: bigint; size: number; name: string }[]): Buffer {
  const strtab = Buffer.concat([Buffer.from([0]), ...syms.map((s) => Buffer.from(s.name + '\0'))]);
  const shstr = Buffer.from('\0.symtab\0.strtab\0.text\0.shstrtab\0');
  const symtab = Buffer.alloc(24 * (syms.length + 1));
  let nameOff = 1;
  syms.forEach((s, i) => {
    const o = 24 * (i + 1);
    symtab.writeUInt32LE(nameOff, o);
    nameOff += s.name.length + 1;
    symtab[o + 4] = (1 << 4) | 2; // GLOBAL FUNC
    symtab.writeUInt16LE(3, o + 6); // .text
    symtab.writeBigUInt64LE(s.value, o + 8);
    symtab.writeBigUInt64LE(BigInt(s.size), o + 16);
  });
  const symOff = 64;
  const strOff = symOff + symtab.length;
  const shstrOff = strOff + strtab.length;
  const shoff = (shstrOff + shstr.length + 7) & ~7;
  const sh = Buffer.alloc(64 * 5);
  const section = (
    i: number,
    name: number,
    type: number,
    flags: number,
    off: number,
    size: number,
    link: number,
    entsize: number,
  ): void => {
    const o = 64 * i;
    sh.writeUInt32LE(name, o);
    sh.writeUInt32LE(type, o + 4);
    sh.writeBigUInt64LE(BigInt(flags), o + 8);
    sh.writeBigUInt64LE(BigInt(off), o + 24);
    sh.writeBigUInt64LE(BigInt(size), o + 32);
    sh.writeUInt32LE(link, o + 40);
    sh.writeBigUInt64LE(BigInt(entsize), o + 56);
  };
  section(1, 1, 2, 0, symOff, symtab.length, 2, 24);
  section(2, 9, 3, 0, strOff, strtab.length, 0, 0);
  section(3, 17, 8, 0x6, 0, 0, 0, 0); // NOBITS .text, AX
  section(4, 23, 3, 0, shstrOff, shstr.length, 0, 0);
  const eh = Buffer.alloc(64);
  eh.writeUInt32BE(0x7f454c46, 0);
  eh[4] = 2;
  eh[5] = 1;
  eh[6] = 1;
  eh.writeUInt16LE(3, 16);
  eh.writeUInt16LE(62, 18);
  eh.writeBigUInt64LE(BigInt(shoff), 40);
  eh.writeUInt16LE(64, 52);
  eh.writeUInt16LE(64, 58);
  eh.writeUInt16LE(5, 60);
  eh.writeUInt16LE(4, 62);
  const pad = Buffer.alloc(shoff - (shstrOff + shstr.length));
  return Buffer.concat([eh, symtab, strtab, shstr, pad, sh]);
}
