// .eh_frame read from the module's file as lookups reach it (unwind-table.ts loadUnwindTable,
// native/unwind/cfi/lazy_section.h) must unwind exactly as the same bytes handed over whole, for
// every function of real libraries; and a file that shrinks or changes under the table must not
// crash the walk (what was not read yet is then zeros or noise, which the parser rejects).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binding, RAW_METHOD } from '../src/addon';
import { ElfFile, FdSource } from '../src/elf/elf-file';
import { loadUnwindTable, unloadUnwindTable, unwindSections } from '../src/unwind/unwind-table';
import { SYNTHETIC_SP, walkSynthetic } from './helpers/synthetic-walk';
import { readelfSizedFunctions } from './helpers/readelf';

const LIBS = ['libc.so.6', 'libstdc++.so.6'].map((l) => path.join('/usr/lib/x86_64-linux-gnu', l));

function openElf(file: string): { elf: ElfFile; fd: number } {
  const fd = fs.openSync(file, 'r');
  return { elf: new ElfFile(new FdSource(fd)), fd };
}

/**
 * One made-up stack and, per function, three pcs (its entry, a middle and its last byte); the
 * stack's words are return addresses into other functions, so each step names a slot.
 */
function walker(elf: ElfFile, file: string) {
  const fns = readelfSizedFunctions(file);
  const text = elf.loads.find((l) => (l.flags & 1) !== 0)!;
  const stack = Buffer.alloc(8192);
  for (let i = 0; i < stack.length / 8; i++) stack.writeBigUInt64LE(fns[(i * 7) % fns.length]!.addr + 1n, i * 8);
  const pcs = fns.flatMap((f) => [f.addr, f.addr + BigInt(f.size >> 1), f.addr + BigInt(f.size - 1)]);
  const threads = pcs.map((pc) => ({ pc, sp: SYNTHETIC_SP, fp: SYNTHETIC_SP + 64n, lr: 0n, stack }));
  const walk = (cfi: number): string[] =>
    walkSynthetic('x64', text, cfi, threads).map((u) => {
      const steps = [...u.pcs].map((pc, k) => `${pc.toString(16)}:${RAW_METHOD[u.methods[k]!]}`);
      return `${steps.join(' ')} (${u.end})`;
    });
  return { pcs, walk };
}

describe.each(LIBS.filter((l) => fs.existsSync(l)))('%s: .eh_frame from the file', (file) => {
  it('unwinds every function as the whole bytes do, after the caller closed its descriptor', () => {
    const { elf, fd } = openElf(file);
    const whole = binding.loadCfi(unwindSections(elf)!);
    const lazy = loadUnwindTable(elf);
    fs.closeSync(fd); // the table reads through a descriptor of its own
    try {
      expect(lazy.id).toBeGreaterThan(0);
      const { pcs, walk } = walker(elf, file);
      const [a, b] = [walk(lazy.id), walk(whole)];
      expect(a.length).toBeGreaterThan(1000);
      a.forEach((x, i) => expect(x, `pc 0x${pcs[i]!.toString(16)}`).toBe(b[i]));
      // The rules were used: most first steps came from CFI.
      const cfi = a.filter((x) => x.split(' ')[1]?.endsWith(':cfi')).length;
      expect(cfi).toBeGreaterThan(a.length / 2);
    } finally {
      unloadUnwindTable(lazy.id);
      binding.unloadCfi(whole);
    }
  });
});

describe('a file that changes under its table', () => {
  let dir: string;
  const lib = LIBS[0]!;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-cfi-file-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['truncated to nothing', (f: string) => fs.truncateSync(f, 0)],
    ['cut in half', (f: string) => fs.truncateSync(f, fs.statSync(f).size >> 1)],
    ['overwritten with noise', (f: string) => fs.writeFileSync(f, Buffer.alloc(fs.statSync(f).size, 0xa5))],
  ])('%s: the walks run, no crash', (_what, change) => {
    const copy = path.join(dir, `libc-${Math.random().toString(36).slice(2)}.so`);
    fs.copyFileSync(lib, copy);
    const { elf, fd } = openElf(copy);
    const whole = binding.loadCfi(unwindSections(elf)!);
    const lazy = loadUnwindTable(elf);
    fs.closeSync(fd);
    try {
      expect(lazy.id).toBeGreaterThan(0);
      const { walk } = walker(elf, lib);
      change(copy); // the hdr was read at registration; .eh_frame is read from here on
      const [a, b] = [walk(lazy.id), walk(whole)];
      expect(a.length).toBe(b.length);
      // Every walk ran (a crash would end the test run) and still starts at its own pc.
      a.forEach((x, i) => expect(x.split(' ')[0]).toBe(b[i]!.split(' ')[0]));
    } finally {
      unloadUnwindTable(lazy.id);
      binding.unloadCfi(whole);
    }
  });
});
