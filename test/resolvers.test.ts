// The native naming sources one by one: each answers a name or a typed reason for a place
// (symbolizer.ts picks them per mapping). Checked on a real fixture binary against readelf.
import * as fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { ElfFile, FdSource } from '../src/elf/elf-file';
import type { MapEntry } from '../src/procfs/maps';
import { Demangler } from '../src/symbolize/demangler';
import { failedModule, loadElfModule, type Module, releaseModule } from '../src/symbolize/module-cache';
import { ElfSymbolResolver } from '../src/symbolize/resolvers/elf';
import { PerfMapResolver } from '../src/symbolize/resolvers/perf-map';
import { resolveFirst, type PcPlace, type Resolution, type Resolver } from '../src/symbolize/resolvers/resolver';
import { PerfMapCache } from '../src/symbolize/perf-map';
import { compileFixture } from './helpers/fixtures';
import { readelfFunctions } from './helpers/readelf';

const MAPPING: MapEntry = {
  start: 0x1000n,
  end: 0x2000n,
  perms: 'r-xp',
  offset: 0n,
  dev: '00:00',
  inode: 0,
  path: '/fixture',
  deleted: false,
};

function moduleOf(file: string): Module {
  const fd = fs.openSync(file, 'r');
  try {
    return loadElfModule(new ElfFile(new FdSource(fd, fs.fstatSync(fd).size)), file, []);
  } finally {
    fs.closeSync(fd);
  }
}

const place = (module: Module | undefined, vaddr: bigint | undefined): PcPlace => ({
  pid: process.pid,
  m: MAPPING,
  at: 0x1000n,
  module,
  vaddr,
});

describe('the ELF resolver', () => {
  const file = compileFixture('idle', 'fp');
  const mod = moduleOf(file);
  const elf = new ElfSymbolResolver(new Demangler());
  const main = readelfFunctions(file).addr.get('main')!;
  afterAll(() => releaseModule(mod)); // its native unwind table

  it('names an address by its function symbol, with the offset into it (readelf is the oracle)', () => {
    expect(elf.resolve(place(mod, main + 3n))).toEqual({ symbol: 'main', offset: 3 });
  });

  it('gives a typed reason where it cannot name', () => {
    const cases: [string, PcPlace, Resolution][] = [
      ['outside the PT_LOADs', place(mod, undefined), { reason: 'outside-loadable-segments' }],
      ['below every symbol', place(mod, 0n), { reason: 'no-symbol-covers' }],
      [
        'an unreadable file',
        place(failedModule('cannot open the mapped file'), 0x10n),
        { reason: 'module-unreadable', detail: 'cannot open the mapped file' },
      ],
      [
        'a file that is not ELF',
        place(failedModule('ELF: not an ELF file', 'module-invalid'), 0x10n),
        { reason: 'module-invalid', detail: 'ELF: not an ELF file' },
      ],
    ];
    for (const [what, p, want] of cases) expect(elf.resolve(p), what).toEqual(want);
  });
});

describe('the perf-map resolver', () => {
  it('says there is no perf map when the process has none', () => {
    expect(fs.existsSync(PerfMapCache.locate(process.pid).file)).toBe(false);
    const r = new PerfMapResolver();
    r.beginPass();
    expect(r.resolve(place(undefined, undefined))).toEqual({ reason: 'no-perf-map' });
  });
});

describe('resolveFirst', () => {
  const says = (r: Resolution): Resolver => ({ resolve: () => r });
  const name = { symbol: 'f', offset: 1 };
  it('takes the first name; without one, the first source’s reason', () => {
    const p = place(undefined, undefined);
    expect(resolveFirst([says({ reason: 'no-symbol-covers' }), says(name)], p)).toEqual(name);
    expect(
      resolveFirst([says({ reason: 'no-function-symbols', detail: 'd' }), says({ reason: 'no-symbol-covers' })], p),
    ).toEqual({
      reason: 'no-function-symbols',
      detail: 'd',
    });
    expect(resolveFirst([], p)).toEqual({ reason: 'no-symbol-covers' });
  });
});
