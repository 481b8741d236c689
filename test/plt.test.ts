// PLT stubs are named `name@plt` the way objdump and gdb name them (objdump is the oracle).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { ElfFile, FdSource } from '../src/elf/elf-file';
import { findPltStub, pltStubs } from '../src/elf/plt';
import { compileSource } from './helpers/fixtures';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-plt-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** objdump's `<name@plt>` labels: address → name. */
function objdumpStubs(file: string): Map<bigint, string> {
  const out = new Map<bigint, string>();
  const sections = execFileSync('readelf', ['-SW', file], { encoding: 'utf8' }).match(/\.plt(\.got|\.sec)?\b/g) ?? [];
  const only = [...new Set(sections)].flatMap((s) => ['-j', s]);
  const text = execFileSync('objdump', ['-d', '--no-show-raw-insn', ...only, file], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  for (const m of text.matchAll(/^([0-9a-f]+) <(.+@plt)>:$/gm)) out.set(BigInt(`0x${m[1]}`), m[2]);
  return out;
}

function ours(file: string) {
  const fd = fs.openSync(file, 'r');
  try {
    return pltStubs(new ElfFile(new FdSource(fd, fs.fstatSync(fd).size)));
  } finally {
    fs.closeSync(fd);
  }
}

const SOURCE = '#include <stdio.h>\n#include <unistd.h>\nint main(void) { puts("x"); usleep(1); return 0; }\n';

const compile = (name: string, flags: string[]): string => compileSource(name, SOURCE, ['-O1', ...flags]);

describe("PLT stubs equal objdump's", () => {
  const cases: [string, () => string][] = [
    ['PIE (.plt and .plt.got)', () => compile('pie', ['-fPIE', '-pie'])],
    ['non-PIE', () => compile('nopie', ['-no-pie'])],
    ['IBT (.plt.sec)', () => compile('ibt', ['-fcf-protection=full', '-Wl,-z,ibtplt'])],
    ['libc.so.6 (ifunc slots)', () => '/lib/x86_64-linux-gnu/libc.so.6'],
    ['the node binary', () => process.execPath],
  ];
  for (const [label, file] of cases) {
    it(label, () => {
      const f = file();
      const expected = objdumpStubs(f);
      const got = new Map(ours(f).map((s) => [s.vaddr, s.name]));
      expect(got.size).toBeGreaterThan(0);
      expect(got).toEqual(expected);
    });
  }

  it('finds the stub around an address inside it', () => {
    const stubs = ours(compile('pie2', ['-fPIE', '-pie']));
    const puts = stubs.find((s) => s.name === 'puts@plt');
    expect(puts).toBeDefined();
    expect(findPltStub(stubs, puts!.vaddr + 5n)?.name).toBe('puts@plt');
    expect(findPltStub(stubs, 0n)).toBeUndefined();
  });
});
