// The demangler (native/demangle/) on names nobody compiled: the Rust grammar written out by
// hand, tens of thousands of corrupted names, and inputs built to exhaust the stack, loop or
// blow up the output. Readings are c++filt's wherever it gives one in reasonable time; where
// it would not (exponential backrefs, 2^64-iteration binders), the name must be refused
// quickly. Needs no rustc (test/rust-demangle.test.ts covers real compiled names).

import { describe, expect, it } from 'vitest';
import { binding } from '../src/addon';
import { cxxfilt } from './helpers/cxxfilt';

/** The verbose style, c++filt's: what these names are compared with. */
const verbose = (name: string): string | null => binding.demangle(name, true);

/** Names covering the v0 and legacy grammars, valid and not (the readings come from c++filt). */
const GRAMMAR = [
  // v0: paths
  '_RNvCs1234_7mycrate3foo',
  '_RNvCs1234_7mycrate3foo.llvm.12345',
  '_RNvC7mycrate3fooC1a', // instantiating crate
  '_RNCNvC4main4main0B3_', // closure, backref
  '_RNvNSNvC1a1f0s_6vtable', // shim with a name
  '_RNvNXNvC1a1f4name3bar', // other special namespace
  '_RNvMNtC1a1bINtB2_1ShE3foo', // inherent impl
  '_RNvXNtC1a1bINtB2_1ShENtB2_1T3foo', // trait impl
  '_RNvXs_NtC1a1bINtB4_1ShENtB4_1T3foo', // impl with a disambiguator
  '_RNvYhNtC1a1T3foo', // <u8 as Trait>
  '_RINvC1a1fzpveE', // !, _, ..., str
  '_RINvC1a1fhtmyojasdxlnifbcuE',
  // v0: types
  '_RINvC1a1fTEE',
  '_RINvC1a1fThEE',
  '_RINvC1a1fThtEE',
  '_RINvC1a1fAhj3_E',
  '_RINvC1a1fShE',
  '_RINvC1a1fPhOhQhRL0_hE',
  '_RINvC1a1fRL_hE',
  '_RINvC1a1fFUKCEuE',
  '_RINvC1a1fFKCdhEtE',
  '_RINvC1a1fFK10rust_call_xEuE',
  '_RINvC1a1fFK6a__b_cEuE',
  '_RINvC1a1fFG0_RL1_hEuE',
  '_RINvC1a1fFG1_RL1_hRL2_hEuE',
  '_RINvC1a1fDNtC1a1TEL_E',
  '_RINvC1a1fDNtC1a1TEL1_E',
  '_RINvC1a1fDG_NtC1a1TEL_E',
  '_RINvC1a1fDINtC1a1TlEp1Ahp1BtEL_E', // generic arguments, then bindings
  '_RINvC1a1fDNtC1a1Tp1AhEL_E',
  '_RINvC1a1fDNtC1a1TNtC1a1UEL_E',
  '_RINvC1a1fINtC1a1TlEDB7_p1AhEL_E', // the same through a backref
  '_RINvC1a1fDB7_EL_E',
  '_RINvC1a1fRL5_hE',
  // v0: constants
  '_RINvC1a1fKj1f_E',
  '_RINvC1a1fKa7f_E',
  '_RINvC1a1fKanff_E',
  '_RINvC1a1fKb1_E',
  '_RINvC1a1fKb2_E',
  '_RINvC1a1fKc61_E',
  '_RINvC1a1fKc1f600_E',
  '_RINvC1a1fKc27_E',
  '_RINvC1a1fKc9_Kca_Kcd_Kc20_Kc7e_Kc7f_Kc5c_E',
  '_RINvC1a1fKc9_KcA_E',
  '_RINvC1a1fKc110000_E',
  '_RINvC1a1fKpE',
  '_RINvC1a1fKj123456789abcdef01_E',
  '_RINvC1a1fKj_E',
  '_RINvC1a1fKfE',
  '_RINvC1a1fKhB7_E',
  '_RINvC1a1fKj3_KB8_E', // constant backref
  // v0: identifiers
  '_RNvC7mycrateu8gdb_84d',
  '_RNvC7mycrateu7gdb_84d',
  '_RNvC7mycrateu5gdb_8',
  '_RNvC7mycrateu3_8a',
  '_RNvC1au6ryvp2d',
  '_RNvC1a0_',
  '_RNvC1a1_1',
  '_RNvC1a01b',
  // v0: not names
  '_RNvB0_3foo',
  '_RNvNvB0_3foo3bar',
  '_RINvC1a1fGE',
  '_R0NvC1a1f',
  '_RC',
  '_R',
  // legacy
  '_ZN3foo3bar17h0123456789abcdefE',
  '_ZN3foo3bar17h0123456789abcdefE.llvm.1234',
  '_ZN3foo3bar17h0123456789abcdefE.isra.0.cold',
  '_ZN3foo3bar17h0000000000000000E',
  '_ZN3foo3bar17h01234E',
  '_ZN3foo3bar17h0123456789ABCDEFE',
  '_ZN4core3ptr85drop_in_place$LT$std..rt..lang_start$LT$$LP$$RP$$GT$..$u7b$$u7b$closure$u7d$$u7d$$GT$17h1234567890abcdefE',
  '_ZN12_$LT$foo$GT$3bar17h0123456789abcdefE',
  '_ZN5$x$ab3bar17h0123456789abcdefE',
  '_ZN8$u7f$$C$3bar17h0123456789abcdefE',
  '_ZN7$u1f$ab3bar17h0123456789abcdefE',
  '_ZN7$SP$$BP3bar17h0123456789abcdefE',
  '_ZN3a.b3bar17h0123456789abcdefE',
  '_ZN3foo.3bar17h0123456789abcdefE',
  '_ZN3fooE',
  '_ZN017h0123456789abcdefE',
  '_Z3foov',
];

/** A deterministic generator (no Math.random: a failure must be reproducible). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) / (1 << 24);
  };
}

/** Corruptions of `seeds`: truncations, replaced, inserted and deleted characters, splices, backrefs. */
function mutants(seeds: readonly string[], count: number, seed: number): string[] {
  const rnd = prng(seed);
  const pick = <T>(a: readonly T[] | string): T => a[Math.floor(rnd() * a.length)] as T;
  const V0_CHARS = '_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  const LEGACY_CHARS = V0_CHARS + '$.';
  const out: string[] = [];
  while (out.length < count) {
    let s = pick(seeds);
    const chars = s.startsWith('_ZN') ? LEGACY_CHARS : V0_CHARS;
    for (let n = 1 + Math.floor(rnd() * 3); n > 0; n--) {
      const at = 2 + Math.floor(rnd() * (s.length - 1));
      const r = rnd();
      if (r < 0.2) s = s.slice(0, at);
      else if (r < 0.45) s = s.slice(0, at) + pick(chars) + s.slice(at + 1);
      else if (r < 0.6) s = s.slice(0, at) + pick(chars) + s.slice(at);
      else if (r < 0.7) s = s.slice(0, at) + s.slice(at + 1);
      else if (r < 0.8) {
        const other = pick(seeds);
        s = s.slice(0, at) + other.slice(2 + Math.floor(rnd() * (other.length - 2)));
      } else if (r < 0.9) s = s.slice(0, at) + 'B' + base62(Math.floor(rnd() * 40)) + s.slice(at);
      else
        s =
          s.slice(0, at) +
          pick(['u', 'G', 'K', 'L', 'D', 'F', 'I', 'E', 'p', 'N', 'C', 'M', 'X', 'Y', 'B_', 's_']) +
          s.slice(at);
    }
    if (s.length > 2) out.push(s);
  }
  return out;
}

/** v0's <base-62-number>: `_` is 0, else digits of n − 1 then `_`. */
function base62(n: number): string {
  if (n === 0) return '_';
  const digits = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  let v = n - 1;
  let s = '';
  do {
    s = digits[v % 62] + s;
    v = Math.floor(v / 62);
  } while (v > 0);
  return s + '_';
}

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = process.hrtime.bigint();
  const value = f();
  return { value, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** What the symbolizer shows: our reading, or the raw name when we give none. */
const shown = (name: string): string => verbose(name) ?? name;

describe('demangling hostile and hand-written names', () => {
  it('the hand-written grammar reads as c++filt prints it, and each reading is what c++filt demangled', () => {
    expect(GRAMMAR.map(shown)).toEqual(cxxfilt(GRAMMAR));
    // The list exercises both outcomes.
    const demangled = GRAMMAR.filter((n) => verbose(n) !== null);
    expect(demangled.length).toBeGreaterThan(50);
    expect(GRAMMAR.length - demangled.length).toBeGreaterThan(10);
  });

  it("60 000 corrupted names: every Rust reading is c++filt's, and the rest are refused", () => {
    const all = mutants(
      GRAMMAR.filter((n) => n.startsWith('_R') || n.startsWith('_ZN')),
      60_000,
      1,
    );
    // A binder (`G`) whose count has 3 or more base-62 digits makes c++filt print that many
    // lifetimes (up to 2^64): such names are only checked for time, below.
    const names = all.filter((n) => !/G[0-9A-Za-z]{3,}_/.test(n));
    expect(names.length).toBeGreaterThan(59_000);
    const rust = cxxfilt(names, 'rust');
    const any = cxxfilt(names);
    const { value: mine, ms } = timed(() => names.map((n) => verbose(n)));
    const wrong: string[] = [];
    let read = 0;
    names.forEach((name, i) => {
      let ok: boolean;
      if (rust[i] === null) {
        ok = mine[i] === null; // c++filt would print invalid UTF-8: refused
      } else if (rust[i] !== name) {
        ok = mine[i] === rust[i];
        read++;
      } else if (name.startsWith('_R')) {
        ok = mine[i] === null;
      } else {
        // Not Rust, so perhaps C++, which __cxa_demangle reads: the C++ runtime's demangler
        // and binutils' differ at the edges (each reads names the other refuses).
        ok = mine[i] === null || mine[i] === any[i] || any[i] === name;
      }
      if (!ok) wrong.push(`${name}\n  ours:    ${mine[i]}\n  c++filt: ${rust[i]} / ${any[i]}`);
    });
    expect(wrong.slice(0, 20)).toEqual([]);
    expect(read).toBeGreaterThan(3000); // the corruptions keep enough names valid to compare readings
    const { ms: msAll } = timed(() => all.forEach((n) => verbose(n)));
    expect(ms + msAll).toBeLessThan(5000);
  });

  it("nesting: exactly c++filt's limit (1024 levels), and 100 000 levels are refused at once", () => {
    const nested = (depth: number) => `_R${'Nv'.repeat(depth)}C1a${'1b'.repeat(depth)}`;
    const names = [
      nested(1000),
      nested(1023),
      nested(1024),
      `_RINvC1a1f${'R'.repeat(1019)}hE`,
      `_RINvC1a1f${'R'.repeat(1020)}hE`,
      `_RINvC1a1f${'A'.repeat(1100)}hE`,
    ];
    expect(names.map(shown)).toEqual(cxxfilt(names));
    expect(verbose(nested(1023))).not.toBeNull();
    expect(verbose(nested(1024))).toBeNull();
    const deep = timed(() => verbose(`_R${'NvNv'.repeat(100_000)}C1a${'1b'.repeat(200_000)}`));
    expect(deep.value).toBeNull();
    expect(deep.ms).toBeLessThan(500);
  });

  it('backrefs that point at themselves or forward are refused as c++filt refuses them', () => {
    const names = [
      '_RB_',
      '_RNvB_1a',
      '_RNvB0_1a',
      '_RINvC1a1fB9_E',
      '_RINvC1a1fKB9_E',
      '_RINvC1a1fDB9_EL_E',
      '_RINvC1a1fB1000_E',
      '_RNvMB_hC1a1f',
      '_RINvC1a1fBzzzzzzzzzzzz_E',
    ];
    expect(names.map((n) => verbose(n))).toEqual(names.map(() => null));
    expect(names.map(shown)).toEqual(cxxfilt(names));
  });

  it('backrefs that double the output at every level are refused quickly (c++filt would print 2^64 types)', () => {
    // t0 = (u8, u8); t(k+1) = (t(k), t(k)), each t(k) written as two backrefs to t(k-1).
    let body = 'INvC1a1f';
    let previous = body.length;
    body += 'ThhE';
    for (let k = 0; k < 64; k++) {
      const here = body.length;
      body += `TB${base62(previous)}B${base62(previous)}E`;
      previous = here;
    }
    const { value, ms } = timed(() => verbose(`_R${body}E`));
    expect(value).toBeNull();
    expect(ms).toBeLessThan(500);
    // A few levels of the same structure are fine, and read as c++filt prints them.
    let small = 'INvC1a1f';
    let prev = small.length;
    small += 'ThhE';
    for (let k = 0; k < 6; k++) {
      const here = small.length;
      small += `TB${base62(prev)}B${base62(prev)}E`;
      prev = here;
    }
    const name = `_R${small}E`;
    expect(verbose(name)?.length).toBeGreaterThan(1000);
    expect(shown(name)).toBe(cxxfilt([name])[0]);
  });

  it('counts and lengths of 64 bits do not loop or allocate', () => {
    for (const name of [
      '_RINvC1a1fFGzzzzzzzzzzz_EuE', // a binder of 2^64 lifetimes, printed
      '_RNvMC1aFGzzzzzzzzzzz_EuE1f', // the same, in an impl's path (parsed, not printed)
      '_RNvC1a99999999999999999999999x', // an identifier longer than any name
      '_RNvC1au99999999999999999999999x',
      '_RINvC1a1fKjffffffffffffffffffffffffffffffffffffffffffffffffffffffff_E',
      '_ZN99999999999999999999999a17h0123456789abcdefE',
    ]) {
      const { value, ms } = timed(() => verbose(name));
      expect(value === null || typeof value === 'string').toBe(true);
      expect(ms, name).toBeLessThan(500);
    }
  });

  it('a non-ASCII identifier longer than 256 characters stays mangled; a shorter one reads as c++filt prints it', () => {
    // `u` identifiers: 'a' × n then Punycode inserting n+1 'é' (the insertion codes of RFC 3492).
    const encode = (cps: number[]) => {
      // Minimal RFC 3492 encoder (basic code points first), to build test names.
      const base = 36,
        tmin = 1,
        tmax = 26,
        skew = 38;
      const basic = cps.filter((c) => c < 0x80);
      let out = '';
      let n = 0x80,
        delta = 0,
        bias = 72,
        h = basic.length;
      const digit = (d: number) => String.fromCharCode(d < 26 ? 97 + d : 22 + d);
      const adapt = (d: number, points: number, first: boolean) => {
        d = first ? Math.floor(d / 700) : d >> 1;
        d += Math.floor(d / points);
        let k = 0;
        while (d > ((base - tmin) * tmax) >> 1) {
          d = Math.floor(d / (base - tmin));
          k += base;
        }
        return k + Math.floor(((base - tmin + 1) * d) / (d + skew));
      };
      while (h < cps.length) {
        const m = Math.min(...cps.filter((c) => c >= n));
        delta += (m - n) * (h + 1);
        n = m;
        for (const c of cps) {
          if (c < n) delta++;
          if (c === n) {
            let q = delta;
            for (let k = base; ; k += base) {
              const t = k <= bias ? tmin : k >= bias + tmax ? tmax : k - bias;
              if (q < t) break;
              out += digit(t + ((q - t) % (base - t)));
              q = Math.floor((q - t) / (base - t));
            }
            out += digit(q);
            bias = adapt(delta, h + 1, h === basic.length);
            delta = 0;
            h++;
          }
        }
        delta++;
        n++;
      }
      const ascii = String.fromCharCode(...basic);
      const ident = ascii.length > 0 ? `${ascii}_${out}` : out;
      return `u${ident.length}${ident}`;
    };
    const word = (n: number) => encode(Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 0x61 : 0xe9)));
    const short = `_RNvC1a${word(256)}`;
    const long = `_RNvC1a${word(257)}`;
    expect(shown(short)).toBe(cxxfilt([short])[0]);
    expect(verbose(short)).toBe(`a[0]::${'aé'.repeat(128)}`);
    expect(verbose(long)).toBeNull();
  });

  it('long legacy names read as c++filt prints them, in linear time', () => {
    // c++filt reads names of at most 32 766 characters: compare at 30 000.
    const name = `_ZN${'1a'.repeat(15_000)}17h0123456789abcdefE`;
    expect(verbose(name) === cxxfilt([name])[0]).toBe(true);
    // 20 times longer: the same components, in about 20 times the time at most.
    const long = `_ZN${'1a'.repeat(300_000)}17h0123456789abcdefE`;
    const { value, ms } = timed(() => verbose(long));
    expect(value === `${'a::'.repeat(300_000)}h0123456789abcdef`).toBe(true);
    expect(ms).toBeLessThan(500);
  });

  it('anything at all: a string or null, never an exception', () => {
    const rnd = prng(7);
    const alphabet = [
      '_',
      'R',
      'Z',
      'N',
      'E',
      'B',
      'I',
      'C',
      'u',
      '$',
      '.',
      '0',
      '1',
      '9',
      'a',
      'z',
      'é',
      '\0',
      '\u{1f600}',
      ' ',
      '<',
    ];
    const inputs = ['', '_', '_R', '_Z', '_ZN', 'ZN', '__ZN', '_R\0', '_ZN3foo\0E', '_RNvC1a2é', 'i'];
    for (let i = 0; i < 20_000; i++) {
      let s = pick(['_R', '_ZN', '_Z', '__ZN', 'ZN', '']);
      for (let n = Math.floor(rnd() * 40); n > 0; n--) s += alphabet[Math.floor(rnd() * alphabet.length)];
      inputs.push(s);
    }
    function pick(a: string[]): string {
      return a[Math.floor(rnd() * a.length)];
    }
    for (const s of inputs) {
      const r = verbose(s);
      expect(r === null || typeof r === 'string', JSON.stringify(s)).toBe(true);
    }
    // Names that are no mangled name at all stay unread (__cxa_demangle alone would read "i" as "int").
    expect(['', '_', 'i', 'main', '_R', '_ZN'].map((n) => verbose(n))).toEqual([null, null, null, null, null, null]);
    expect(() => (binding.demangle as (x: unknown) => unknown)(42)).toThrow(TypeError);
  });
});
