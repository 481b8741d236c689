// Rust symbol names, against GNU binutils: a Rust fixture compiled at test time with each
// mangling scheme (v0 and legacy), the Rust standard library's own names, and a live snapshot
// of the fixture blocked in a chain of generic functions and closures. Frames show the short
// style of `nm -C`, perf and gdb; the verbose style is checked against c++filt.
//
// Needs rustc (Debian's `rustc` package; CI installs it). Without it these tests are skipped
// with the reason in their title, except under CI (process.env.CI), where they fail.

import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { binding } from '../src/addon';
import { snapshot } from '../src/index';
import { CXXFILT_WORD, cxxfilt, functionSymbols, nmDemangled } from './helpers/cxxfilt';
import {
  compileRustFixture,
  haveRustc,
  RUST_MANGLINGS,
  rustTargetLibDir,
  type RustMangling,
} from './helpers/rust-fixture';
import { startTarget, stopAllTargets } from './helpers/target';

const RUSTC = haveRustc();
const RUN = RUSTC || Boolean(process.env.CI);
const TITLE = RUSTC ? 'Rust names' : 'Rust names (skipped: rustc is not installed; CI installs it)';

afterEach(async () => {
  await stopAllTargets();
});

/** Our reading of each name where the caller keeps the raw name for null, as the symbolizer does. */
function ours(names: readonly string[], verbose = false): string[] {
  return names.map((n) => binding.demangle(n, verbose) ?? n);
}

/** The names whose verbose reading differs from c++filt's, with both readings (empty when all agree). */
function disagreements(names: readonly string[]): { name: string; ours: string; cxxfilt: string | null }[] {
  const theirs = cxxfilt(names);
  const mine = ours(names, true);
  return names.flatMap((name, i) => (mine[i] === theirs[i] ? [] : [{ name, ours: mine[i], cxxfilt: theirs[i] }]));
}

/** What each scheme must put in the fixture's names (as c++filt prints them): proof that the fixture covers the grammar. */
const COVERAGE: Readonly<Record<RustMangling, readonly RegExp[]>> = {
  v0: [
    /^rust_names\[[0-9a-f]+\]::main$/, // crate root with its disambiguator
    /::\{closure#\d+\}::\{closure#\d+\}$/, // closures, nested
    /::\{shim:vtable#0\}$/, // shims
    /::模块::等待::<\[u16; 3: usize\]>$/, // Punycode identifiers, arrays
    /::模块::Größe<u8>>::größe$/, // Punycode with ASCII characters, inherent impls
    /::outer::inner::Wrapper<u16>>::map::<u64, /, // nested modules, generic methods
    /<\[u8; 3: usize\] as rust_names\[[0-9a-f]+\]::Step>::step$/, // trait impls
    /<\(i8, bool\) as rust_names\[[0-9a-f]+\]::Named>::name$/, // tuples, provided trait methods
    /::with_consts::<3: usize, true: bool, 'x': char, -7: i32>$/, // const generics, negative
    /::with_consts::<\d+: usize, false: bool, '\\u\{e9\}': char, -2147483648: i32>$/, // non-ASCII char
    /::with_wide::<0x[0-9a-f]+_: u128, -9223372036854775808: i64>$/, // wider than 64 bits
    /::generic::<\(&\[u8\], \[u16; 4: usize\], \(i8,\), \*const u32, &mut str\)>$/, // refs, slices, pointers
    /::generic::<\*mut rust_names\[[0-9a-f]+\]::outer::inner::Wrapper<&\[u8\]>>$/,
    /::generic::<dyn core\[[0-9a-f]+\]::iter::traits::iterator::Iterator<Item = u8>>$/, // dyn with a binding
    /::generic::<dyn for<'a> core\[[0-9a-f]+\]::ops::function::Fn<\(&'a str,\), Output = &'a str>>$/, // binders
    /::generic::<dyn core\[[0-9a-f]+\]::fmt::Display \+ core\[[0-9a-f]+\]::marker::Sync>$/, // several traits
    /::generic::<for<'a> fn\(&'a str\) -> &'a str>$/, // fn pointers
    /::generic::<unsafe extern "C" fn\(i32\) -> i32>$/, // ABI
    /::generic::<fn\(\) -> !>$/, // never type
    /::generic::<\(f32, f64, i128, u128, isize, char\)>$/, // basic types
  ],
  legacy: [
    /^rust_names::main::h[0-9a-f]{16}$/, // the hash, kept as c++filt keeps it
    /::\{\{closure\}\}::\{\{closure\}\}::h[0-9a-f]{16}$/, // `$u7b$$u7b$closure$u7d$$u7d$`
    /^rust_names::\$u6a21\$\$u5757\$::\$u7b49\$\$u5f85\$::h[0-9a-f]{16}$/, // non-ASCII: printed escaped, as c++filt does
    /^rust_names::outer::inner::<impl rust_names::Step for \[u8; 3\]>::step::h[0-9a-f]{16}$/, // `$LT$`, `$u5b$`, `$u3b$`, `$u20$`, `$GT$`
    /^rust_names::outer::inner::<impl rust_names::Step for &\[u16\]>::step::h[0-9a-f]{16}$/, // `$RF$`
    /^rust_names::outer::inner::Wrapper<T>::map::h[0-9a-f]{16}$/,
    /^<rust_names::outer::inner::Wrapper<T> as rust_names::Step>::step::h[0-9a-f]{16}$/,
  ],
};

describe.skipIf(!RUN)(TITLE, () => {
  it('rustc is installed', () => {
    expect(RUSTC, "rustc is not on PATH (.ci/run installs Debian's rustc)").toBe(true);
  });

  for (const mangling of RUST_MANGLINGS) {
    it(`${mangling}: every function symbol of the fixture reads as c++filt prints it`, () => {
      const bin = compileRustFixture('rust_names', mangling);
      const names = functionSymbols(bin);
      expect(names.filter((n) => !CXXFILT_WORD.test(n))).toEqual([]);
      // The fixture's own functions carry the scheme asked for.
      const own = names.filter((n) => n.includes('rust_names'));
      expect(own.length).toBeGreaterThan(60);
      if (mangling === 'v0') expect(own.filter((n) => !n.startsWith('_R'))).toEqual([]);
      else expect(own.filter((n) => !/^_ZN.*17h[0-9a-f]{16}E$/.test(n))).toEqual([]);

      expect(disagreements(names)).toEqual([]);
      const read = ours(own, true);
      for (const re of COVERAGE[mangling])
        expect(
          read.some((n) => re.test(n)),
          `no name matches ${re}`,
        ).toBe(true);
    });

    it(`${mangling}: every symbol of the fixture's binary, std included, reads as nm -C prints it (the style of frames)`, () => {
      const shown = nmDemangled(compileRustFixture('rust_names', mangling));
      const rust = [...shown.keys()].filter((n) => n.startsWith('_R') || /^_ZN.*17h[0-9a-f]{16}E/.test(n));
      expect(rust.length).toBeGreaterThan(100);
      const differ = [...shown].filter(([raw, nm]) => (binding.demangle(raw) ?? raw) !== nm);
      expect(differ).toEqual([]);
    });
  }

  it("the toolchain's standard library: thousands of real names read as c++filt prints them", () => {
    const dir = rustTargetLibDir();
    const libs = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.rlib') || f.endsWith('.so'))
      .map((f) => `${dir}/${f}`);
    expect(libs.some((f) => /\/libstd-[^/]+\.(rlib|so)$/.test(f))).toBe(true);
    const names = functionSymbols(...libs).filter((n) => CXXFILT_WORD.test(n));
    const rust = names.filter((n) => n.startsWith('_R') || n.startsWith('_ZN'));
    expect(rust.length).toBeGreaterThan(1000);
    expect(disagreements(names)).toEqual([]);
    // Each of them really is read as Rust: c++filt's Rust-only reading demangles it too.
    const rustOnly = cxxfilt(rust, 'rust');
    expect(rust.filter((n, i) => rustOnly[i] === n)).toEqual([]);
  });

  for (const mangling of RUST_MANGLINGS) {
    it(`${mangling}: a live snapshot names the frames of a blocked generic and closure chain as nm -C does`, async () => {
      const bin = fs.realpathSync(compileRustFixture('rust_names', mangling));
      const target = await startTarget(bin, [], { mainBlocked: true });
      const shot = await snapshot(target.pid);
      const main = shot.threads.find((t) => t.tid === target.pid);
      expect(main).toBeDefined();
      const frames = main!.frames.filter((f) => f.module === bin);

      // The oracle's side: which symbols start where each frame's function starts (readelf),
      // and how nm -C prints them.
      const loads = loadSegments(bin);
      const byAddress = functionsByAddress(bin);
      const raw = frames.map((f) => {
        expect(f.symbol, `frame at ${f.pc} has no name`).not.toBeNull();
        const start = BigInt(f.moduleOffset!) - BigInt(f.symbolOffset!);
        return byAddress.get(fileOffsetToVaddr(loads, start)) ?? [];
      });
      const shown = nmDemangled(bin);
      const printed = raw.flat().map((n) => shown.get(n) ?? n);
      let k = 0;
      const expected = raw.map((names) => printed.slice(k, (k += names.length)));
      frames.forEach((f, i) => expect(expected[i], `frame ${i} (${f.pc})`).toContain(f.symbol));

      // And the frames are the chain main blocks in, innermost first.
      const chain = [
        /thread::(functions::)?sleep/,
        mangling === 'v0' ? /::模块::等待::<\[u16; 3\]>$/ : /::\$u6a21\$\$u5757\$::\$u7b49\$\$u5f85\$$/,
        /enter.*(\{closure#0\}|\{\{closure\}\})::(\{closure#0\}|\{\{closure\}\})/,
        /::via_dyn/,
        /enter.*(\{closure#0\}|\{\{closure\}\})/,
        /Chain<.*enter/,
        /^rust_names::main$/,
      ];
      const symbols = frames.map((f) => f.symbol!);
      let at = 0;
      for (const re of chain) {
        while (at < symbols.length && !re.test(symbols[at])) at++;
        expect(at, `no frame matching ${re} in order in:\n${symbols.join('\n')}`).toBeLessThan(symbols.length);
        at++;
      }
    });
  }
});

// ---- readelf: where functions are ----

interface Load {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

function loadSegments(file: string): Load[] {
  const out: Load[] = [];
  for (const line of execFileSync('readelf', ['-lW', file], { encoding: 'utf8' }).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(line);
    if (m) out.push({ offset: BigInt('0x' + m[1]), vaddr: BigInt('0x' + m[2]), filesz: BigInt('0x' + m[3]) });
  }
  return out;
}

function fileOffsetToVaddr(loads: Load[], offset: bigint): bigint {
  const l = loads.find((s) => offset >= s.offset && offset < s.offset + s.filesz);
  if (l === undefined) throw new Error(`file offset 0x${offset.toString(16)} is in no PT_LOAD`);
  return offset - l.offset + l.vaddr;
}

/** Function symbols by address (aliases share one). */
function functionsByAddress(file: string): Map<bigint, string[]> {
  const out = new Map<bigint, string[]>();
  for (const line of execFileSync('readelf', ['-Ws', '--wide', file], { encoding: 'utf8', maxBuffer: 1 << 28 }).split(
    '\n',
  )) {
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+\S+\s+FUNC\s+\w+\s+\w+\s+\d+\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = BigInt('0x' + m[1]);
    const names = out.get(addr) ?? [];
    if (!names.includes(m[2])) names.push(m[2]);
    out.set(addr, names);
  }
  return out;
}
