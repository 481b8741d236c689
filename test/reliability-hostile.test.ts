// Hostile input: the TypeScript parsers (ELF reader and symbol tables, perf maps,
// /proc/<pid>/maps) over thousands of mutated inputs; the unwinder over crafted stacks (frame
// pointer loops, pointers outside the stack, huge frames, garbage) fed through saved capture
// files; and a live process whose mappings have hostile paths. Nothing may throw where the
// contract says it does not, hang, or grow without bound; every walk ends with a named reason.
//
// Scale: ~2,000 ELF mutations, ~3,000 text inputs, 150 crafted captures in CI (~30 s);
// STACKSHOT_RELIABILITY_FULL=1 multiplies the counts by 10.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { captureToFile, snapshotFromFile, type SavedCapture } from '../src/capture-file';
import { BufferSource, ElfError, ElfFile } from '../src/elf/elf-file';
import { readBuildId, readDebugLink } from '../src/elf/build-id';
import { symbolSources, SymbolTable } from '../src/elf/symbols';
import { snapshotSync, type EndReason } from '../src/index';
import { findMapping, parseMaps, parseMapsLine, type MapEntry } from '../src/procfs/maps';
import { PerfMap } from '../src/symbolize/perf-map';
import { compileFixture } from './helpers/fixtures';
import { startFixture, startTarget, stopAllTargets } from './helpers/target';

const MUL = process.env.STACKSHOT_RELIABILITY_FULL === '1' ? 10 : 1;

const END_REASONS: EndReason[] = [
  'thread-entry',
  'end-of-chain',
  'fp-not-increasing',
  'fp-misaligned',
  'fp-outside-stack',
  'cfa-outside-stack',
  'ra-not-executable',
  'max-frames',
  'copy-exhausted',
  'cfa-not-increasing',
  'register-unknown',
  'not-captured',
  'stack-unreadable',
];

/** Deterministic PRNG (xorshift32), so a failure can be replayed from its iteration number. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return {
    u32: next,
    int: (n: number) => next() % n,
    pick: <T>(a: readonly T[]): T => a[next() % a.length],
    u64: () => (BigInt(next()) << 32n) | BigInt(next()),
    chance: (p: number) => next() / 0x100000000 < p,
  };
}

afterEach(async () => {
  await stopAllTargets();
});

// Under scripts/build-asan.sh --test: prove the sanitized addon is the one these tests drive.
it.runIf(process.env.STACKSHOT_ASAN_BUILD === '1')(
  'runs against the sanitized addon (only under scripts/build-asan.sh --test)',
  () => {
    expect(binding.arch).toBeTruthy();
    const maps = fs.readFileSync('/proc/self/maps', 'utf8');
    expect(maps).toContain(path.resolve(__dirname, '..', 'build', 'Release', 'stackshot.node'));
    expect(maps).toMatch(/libasan/);
  },
);

// ---------------------------------------------------------------------------------------
describe('ELF reader and symbol tables over mutated files', () => {
  const original = fs.readFileSync(compileFixture('threads', 'nofp'));

  /** Everything the symbolizer does with an untrusted ELF file. Returns a summary. */
  function exercise(buf: Buffer, r: ReturnType<typeof rng>): string {
    let elf: ElfFile;
    try {
      elf = new ElfFile(new BufferSource(buf));
    } catch (e) {
      if (!(e instanceof ElfError)) throw e; // the contract: hostile files give an ElfError
      return 'rejected';
    }
    readBuildId(elf); // never throws (unreadable notes are skipped)
    try {
      readDebugLink(elf);
    } catch (e) {
      if (!(e instanceof ElfError)) throw e;
    }
    const table = new SymbolTable(symbolSources(elf)); // malformed sections are skipped, never thrown
    const hit = { index: 0, offset: 0 };
    for (let i = 0; i < 50; i++) {
      const addr = r.chance(0.5) ? BigInt(r.int(0x10000)) : r.u64();
      if (table.lookup(addr, hit)) {
        expect(typeof table.name(hit.index)).toBe('string');
        expect(hit.offset).toBeGreaterThanOrEqual(0);
      }
      elf.fileOffsetToVaddr(addr);
    }
    return `parsed ${table.length}`;
  }

  it('the unmutated fixture parses and names its functions', () => {
    const elf = new ElfFile(new BufferSource(original));
    const table = new SymbolTable(symbolSources(elf));
    expect(table.length).toBeGreaterThan(10);
  });

  it(`${2000 * MUL} mutated copies: only ElfError escapes, each parse is bounded`, () => {
    const eh = new ElfFile(new BufferSource(original));
    const shoff = Number(original.readBigUInt64LE(40));
    const phoff = Number(original.readBigUInt64LE(32));
    const symtab = eh.sections.find((s) => s.name === '.symtab');
    // Where mutations hurt most: headers, program and section header tables, symbol table.
    const hot: [number, number][] = [
      [0, 64],
      [phoff, 56 * original.readUInt16LE(56)],
      [shoff, 64 * original.readUInt16LE(60)],
      ...(symtab ? ([[symtab.offset, Math.min(symtab.size, 4096)]] as [number, number][]) : []),
    ];
    const outcomes = new Map<string, number>();
    const rssBefore = process.memoryUsage().rss;
    let slowest = 0;
    for (let i = 0; i < 2000 * MUL; i++) {
      const r = rng(i + 1);
      let buf = Buffer.from(original);
      const kind = r.int(5);
      if (kind === 4) {
        buf = buf.subarray(0, r.int(buf.length)); // truncated
      } else {
        const edits = 1 + r.int(16);
        for (let k = 0; k < edits; k++) {
          const [start, len] = r.pick(hot);
          const at = kind === 3 ? r.int(buf.length) : start + r.int(Math.max(1, len));
          if (at >= buf.length) continue;
          // Bytes, or whole 32/64-bit fields set to hostile values.
          const v = r.pick([0, 0xff, 0x7f, 0x80, r.u32() & 0xff]);
          if (r.chance(0.3) && at + 8 <= buf.length)
            buf.writeBigUInt64LE(
              r.pick([0n, 0xffffffffffffffffn, 0x7fffffffffffffffn, BigInt(buf.length), r.u64()]),
              at,
            );
          else if (r.chance(0.3) && at + 4 <= buf.length)
            buf.writeUInt32LE(r.pick([0, 0xffffffff, 0xffff, buf.length, r.u32()]) >>> 0, at);
          else buf[at] = v;
        }
      }
      const t0 = performance.now();
      let outcome: string;
      try {
        outcome = exercise(buf, r).split(' ')[0];
      } catch (e) {
        throw new Error(`mutation ${i} (kind ${kind}): ${(e as Error).stack}`, { cause: e });
      }
      const dt = performance.now() - t0;
      slowest = Math.max(slowest, dt);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // Both outcomes happen: the mutations reach past the header checks.
    expect(outcomes.get('rejected')).toBeGreaterThan(0);
    expect(outcomes.get('parsed')).toBeGreaterThan(0);
    // No input takes pathological time (~50 ms at worst here; the margin absorbs a loaded CI).
    expect(slowest).toBeLessThan(5000);
    // (Not under ASan: its allocator keeps freed memory in a 256 MB quarantine.)
    if (process.env.STACKSHOT_ASAN_BUILD !== '1')
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
  });

  it(`${500 * MUL} random buffers`, () => {
    for (let i = 0; i < 500 * MUL; i++) {
      const r = rng(100000 + i);
      const buf = Buffer.alloc(r.int(4096));
      for (let k = 0; k < buf.length; k++) buf[k] = r.u32() & 0xff;
      if (buf.length >= 6 && r.chance(0.7)) buf.write('\x7fELF\x02\x01', 0, 'latin1'); // get past the magic
      exercise(buf, r);
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('native CFI parser and unwinder over mutated .eh_frame / .eh_frame_hdr', () => {
  const file = fs.readFileSync(compileFixture('threads', 'nofp'));
  const elf = new ElfFile(new BufferSource(file));
  const section = (name: string) => {
    const s = elf.sections.find((x) => x.name === name);
    if (!s) throw new Error(`fixture has no ${name}`);
    return { data: elf.sectionData(s), addr: s.addr, size: s.size };
  };
  const ehFrame = section('.eh_frame');
  const ehFrameHdr = section('.eh_frame_hdr');
  const text = section('.text');
  const BIAS = 0x555500000000n;
  const SP = 0x7ffd00001000n;

  it(`${600 * MUL} mutated tables load or are refused, and every walk over them is bounded`, () => {
    let loaded = 0;
    const ends = new Set<string>();
    for (let i = 0; i < 600 * MUL; i++) {
      const r = rng(700000 + i);
      const eh = Buffer.from(ehFrame.data);
      const hdr = Buffer.from(ehFrameHdr.data);
      const target = r.chance(0.6) ? eh : hdr;
      for (let k = 0, n = 1 + r.int(12); k < n; k++) {
        const at = r.chance(0.5) ? r.int(Math.min(64, target.length)) : r.int(target.length);
        if (r.chance(0.4) && at + 4 <= target.length)
          target.writeUInt32LE(r.pick([0, 0xffffffff, 0x7fffffff, 0x10, r.u32()]) >>> 0, at);
        else target[at] = r.u32() & 0xff;
      }
      let id: number;
      try {
        id = binding.loadCfi({
          arch: 'x64',
          ehFrame: r.chance(0.05) ? eh.subarray(0, r.int(eh.length)) : eh,
          ehFrameVaddr: ehFrame.addr,
          ...(r.chance(0.8) ? { ehFrameHdr: hdr, ehFrameHdrVaddr: ehFrameHdr.addr } : {}),
          ...(r.chance(0.1) ? { debugFrame: eh } : {}),
        });
      } catch (e) {
        expect(e).toBeInstanceOf(Error); // a clean JS error is acceptable; a crash is not
        continue;
      }
      if (id > 0) loaded++;
      // A 16 KiB stack of pointers into itself and into the module, and random pcs in .text.
      const stack = Buffer.alloc(16384);
      for (let o = 0; o < stack.length; o += 8) {
        stack.writeBigUInt64LE(
          r.pick([SP + BigInt(r.int(16384)), BIAS + text.addr + BigInt(r.int(text.size)), r.u64(), 0n]),
          o,
        );
      }
      const threads = Array.from({ length: 4 }, () => ({
        pc: BIAS + text.addr + BigInt(r.int(text.size)),
        sp: SP + BigInt(r.int(64)),
        fp: r.chance(0.5) ? SP + BigInt(r.int(16384)) : r.u64(),
        lr: 0n,
        stack,
      }));
      const mappings = BigUint64Array.from([
        SP,
        SP + 16384n,
        0n,
        0n,
        BIAS,
        BIAS + BigInt(file.length) + 0x10000n,
        BIAS,
        (BigInt(id) << 2n) | 1n,
      ]);
      const out = binding.unwind({ arch: 'x64', pid: 0, maxFrames: 128, mappings, threads });
      for (const u of out) {
        expect(u.pcs.length).toBeLessThanOrEqual(128);
        expect(END_REASONS).toContain(u.end);
        ends.add(u.end);
      }
    }
    expect(loaded).toBeGreaterThan(0);
    expect(ends.size).toBeGreaterThanOrEqual(3);
  });
});

// ---------------------------------------------------------------------------------------
describe('perf map parser', () => {
  interface Entry {
    start: number;
    size: number;
    name: string;
  }
  /** Reference: the newest entry covering addr wins. */
  function naive(entries: Entry[], addr: number): { name: string; offset: number } | undefined {
    for (let i = entries.length - 1; i >= 0; i--) {
      const e = entries[i];
      if (addr >= e.start && addr < e.start + e.size) return { name: e.name, offset: addr - e.start };
    }
    return undefined;
  }
  const NAMES = [
    'LazyCompile:*f /a.js:1',
    'Builtin:ArgumentsAdaptor',
    'name with  spaces',
    'x',
    'ünïcode',
    'JS:~g file:///t.mjs:3:9',
  ];

  it(`${1500 * MUL} generated maps: lookups equal the newest-entry-wins reference`, () => {
    for (let i = 0; i < 1500 * MUL; i++) {
      const r = rng(200000 + i);
      const entries: Entry[] = [];
      const n = 1 + r.int(40);
      const base = r.chance(0.5) ? 0x1000 : 0x7f0000000000;
      for (let k = 0; k < n; k++)
        entries.push({ start: base + r.int(0x400), size: 1 + r.int(0x100), name: `${r.pick(NAMES)}#${k}` });
      const text =
        entries
          .map(
            (e) =>
              `${r.chance(0.2) ? '0x' : ''}${e.start.toString(16)} ${e.size.toString(16)} ${e.name}${r.chance(0.1) ? '\r' : ''}`,
          )
          .join('\n') + '\n';
      const cut = r.int(n);
      const whole = PerfMap.parse(text);
      const lines = text.split('\n');
      const grown = PerfMap.parse(lines.slice(0, cut).join('\n') + (cut ? '\n' : '')).extend(
        lines.slice(cut).join('\n'),
      );
      expect(whole.entryCount).toBe(n);
      const bad: string[] = [];
      for (let a = base - 2; a < base + 0x510; a += 1 + r.int(3)) {
        const want = JSON.stringify(naive(entries, a));
        if (JSON.stringify(whole.lookup(BigInt(a))) !== want) bad.push(`parse: 0x${a.toString(16)} want ${want}`);
        if (JSON.stringify(grown.lookup(BigInt(a))) !== want) bad.push(`extend: 0x${a.toString(16)} want ${want}`);
      }
      expect(bad, `map ${i}`).toEqual([]);
    }
  });

  it(`${1000 * MUL} garbage texts parse without throwing`, () => {
    const alphabet = '0123456789abcdefxX \n\r\t-:.*/()ZZ';
    for (let i = 0; i < 1000 * MUL; i++) {
      const r = rng(300000 + i);
      let text = '';
      const len = r.int(2000);
      for (let k = 0; k < len; k++) text += alphabet[r.int(alphabet.length)];
      if (r.chance(0.3))
        text += `\nffffffffffffffff 10 huge\n${'f'.repeat(40)} 1 long\n0 0 empty\n1 ${'f'.repeat(20)} wide\n`;
      const map = PerfMap.parse(text);
      for (let k = 0; k < 20; k++) {
        const hit = map.lookup(r.chance(0.5) ? BigInt(r.int(0x100000)) : r.u64());
        if (hit) expect(hit.offset).toBeGreaterThanOrEqual(0);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('/proc/<pid>/maps parser', () => {
  const PATHS = [
    '',
    '[stack]',
    '[vdso]',
    '[heap]',
    '/usr/lib/libc.so.6',
    '/tmp/dir with spaces/lib x.so',
    '/tmp/lib\\012newline.so',
    '/a/b (deleted)',
    '/x  two  spaces',
    '/memfd:jit (deleted)',
  ];
  const hex = (n: bigint) => n.toString(16).padStart(8, '0');

  function line(e: MapEntry, path: string): string {
    const prefix = `${hex(e.start)}-${hex(e.end)} ${e.perms} ${e.offset.toString(16).padStart(8, '0')} ${e.dev} ${e.inode}`;
    return path === '' ? prefix + ' ' : `${prefix.padEnd(73)}${path}`;
  }

  it(`${1000 * MUL} generated maps round-trip, and findMapping equals a linear search`, () => {
    for (let i = 0; i < 1000 * MUL; i++) {
      const r = rng(400000 + i);
      const entries: { e: MapEntry; raw: string }[] = [];
      let at = BigInt(r.int(0x10000)) << 12n;
      for (let k = 0, n = 1 + r.int(30); k < n; k++) {
        at += BigInt(r.int(4)) << 12n;
        const size = BigInt(1 + r.int(16)) << 12n;
        const raw = r.pick(PATHS);
        const e: MapEntry = {
          start: at,
          end: at + size,
          perms: r.pick(['r-xp', 'rw-p', 'r--p', '---p', 'rwxs']),
          offset: BigInt(r.int(0x100000)) << 12n,
          dev: r.pick(['00:00', 'fe:01', '103:02']),
          inode: raw === '' || raw.startsWith('[') ? 0 : 1 + r.int(1e9),
          path: raw.endsWith(' (deleted)') ? raw.slice(0, -10) : raw,
          deleted: raw.endsWith(' (deleted)'),
        };
        at += size;
        entries.push({ e, raw });
      }
      const text = entries.map(({ e, raw }) => line(e, raw)).join('\n') + '\n';
      const parsed = parseMaps(text);
      expect(parsed).toEqual(entries.map(({ e }) => e));
      for (let k = 0; k < 30; k++) {
        const addr = entries[0].e.start - 0x1000n + BigInt(r.int(Number(at - entries[0].e.start) + 0x2000));
        expect(findMapping(parsed, addr)).toEqual(parsed.find((m) => m.start <= addr && addr < m.end));
      }
    }
  });

  it(`${1000 * MUL} mutated texts parse without throwing`, () => {
    const sample = fs.readFileSync('/proc/self/maps', 'utf8');
    for (let i = 0; i < 1000 * MUL; i++) {
      const r = rng(500000 + i);
      const chars = sample.split('');
      for (let k = 0, n = 1 + r.int(50); k < n; k++)
        chars[r.int(chars.length)] = r.pick(['-', ' ', '\n', 'g', '0', 'f', '(', ')', '', 'ffffffffffffffffff']);
      const maps = parseMaps(chars.join(''));
      for (const m of maps) expect(typeof m.start).toBe('bigint');
      for (let k = 0; k < 10; k++) findMapping(maps, r.u64());
      parseMapsLine(chars.slice(0, r.int(200)).join(''));
    }
  });
});

// ---------------------------------------------------------------------------------------
describe('the unwinder over crafted stacks (saved captures)', () => {
  let dir: string;
  let saved: SavedCapture;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-hostile-'));
    const target = await startFixture('threads', 'fp');
    await captureToFile(target.pid, path.join(dir, 'base.json'));
    saved = JSON.parse(fs.readFileSync(path.join(dir, 'base.json'), 'utf8')) as SavedCapture;
    await target.stop();
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const u64 = (s: string) => BigInt(s);
  const h = (n: bigint) => `0x${BigInt.asUintN(64, n).toString(16)}`;

  type Thread = SavedCapture['threads'][number];
  /** One hostile change to a thread's registers and stack bytes. */
  function mutate(t: Thread, kind: number, r: ReturnType<typeof rng>): void {
    const sp = u64(t.sp);
    let stack = Buffer.from(t.stack, 'base64');
    const put = (off: number, v: bigint) => {
      if (off >= 0 && off + 8 <= stack.length) stack.writeBigUInt64LE(BigInt.asUintN(64, v), off);
    };
    switch (kind) {
      case 0: // frame-pointer loop: the saved fp points at itself
        t.fp = h(sp + 64n);
        put(64, sp + 64n);
        break;
      case 1: // two-record cycle
        t.fp = h(sp + 32n);
        put(32, sp + 96n);
        put(96, sp + 32n);
        break;
      case 2: // saved fp and return address point outside the stack / into nowhere
        for (let o = 0; o + 8 <= stack.length; o += 8)
          if (r.chance(0.2)) put(o, r.pick([0n, 0xffffffffffffffffn, 0xdeadbeefn, r.u64(), sp - 4096n]));
        break;
      case 3: // random garbage stack
        for (let o = 0; o < stack.length; o++) stack[o] = r.u32() & 0xff;
        break;
      case 4: // registers anywhere
        t.pc = h(r.u64());
        t.sp = h(r.chance(0.5) ? r.u64() : sp + BigInt(r.int(64)) - 32n);
        t.fp = h(r.u64());
        break;
      case 5: // no stack bytes at all, or one odd byte count
        stack = stack.subarray(0, r.pick([0, 1, 7, 9]));
        break;
      case 6: {
        // a huge frame: a chain that jumps by ~1 MiB steps through a 4 MiB copy
        const big = Buffer.alloc(4 << 20);
        stack.copy(big, 0, 0, Math.min(stack.length, 256));
        for (let o = 1 << 20, k = 0; o + 16 <= big.length; o += (1 << 20) - 8 * (k++ % 3)) {
          big.writeBigUInt64LE(sp + BigInt(o + (1 << 20)), o);
          big.writeBigUInt64LE(u64(t.pc), o + 8);
        }
        t.fp = h(sp + BigInt(1 << 20));
        stack = big;
        break;
      }
      case 7: // a long valid-looking chain: every record points 16 bytes up, ra = pc
        for (let o = 0; o + 16 <= stack.length; o += 16) {
          put(o, sp + BigInt(o + 16));
          put(o + 8, u64(t.pc));
        }
        t.fp = t.sp;
        break;
      case 8: // general registers array: garbage values (CFI rules read rbx, rbp, ...)
        t.regs = t.regs.map(() => h(r.u64()));
        break;
      default: // misaligned sp and fp
        t.sp = h(sp + 3n);
        t.fp = h(u64(t.fp) + 5n);
    }
    t.stack = stack.toString('base64');
  }

  it(
    `${150 * MUL} crafted captures unwind to a bounded walk with a named end`,
    () => {
      const maxFrames = 200;
      const ends = new Map<string, number>();
      let slowest = 0;
      for (let i = 0; i < 150 * MUL; i++) {
        const r = rng(600000 + i);
        const copy = JSON.parse(JSON.stringify(saved)) as SavedCapture;
        for (const t of copy.threads) if (t.status === 'captured') mutate(t, i % 10, r);
        if (i % 25 === 24)
          copy.maps = copy.maps
            .split('\n')
            .filter(() => r.chance(0.5))
            .join('\n'); // maps with holes
        const file = path.join(dir, 'mutated.json');
        fs.writeFileSync(file, JSON.stringify(copy));
        const t0 = performance.now();
        let shot;
        try {
          shot = snapshotFromFile(file, { maxFrames, symbolize: i % 3 === 0 });
        } catch (e) {
          throw new Error(`crafted capture ${i} (kind ${i % 10}): ${(e as Error).stack}`, { cause: e });
        }
        slowest = Math.max(slowest, performance.now() - t0);
        for (const t of shot.threads) {
          expect(t.frames.length).toBeLessThanOrEqual(maxFrames);
          expect(END_REASONS, `capture ${i} thread ${t.name}`).toContain(t.end);
          ends.set(t.end, (ends.get(t.end) ?? 0) + 1);
        }
      }
      expect(slowest).toBeLessThan(5000);
      // The crafted stacks reach the unwinder's defences, not just the happy path.
      expect(ends.size).toBeGreaterThanOrEqual(4);
    },
    120_000 * MUL,
  ); // 150 took up to a minute on a loaded 2-core machine
});

// ---------------------------------------------------------------------------------------
describe('mappings with hostile paths in a live process', () => {
  it('spaces, a newline, a literal " (deleted)", and a deleted file: named or null, never a crash', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-oddpaths-'));
    try {
      const target = await startTarget(compileFixture('rel_oddpaths', 'fp'), [dir]);
      for (const schedule of ['rolling', 'consistent'] as const) {
        const shot = snapshotSync(target.pid, { schedule });
        const odd = shot.threads.filter((t) => /^odd\d$/.test(t.name));
        expect(odd.length).toBe(4);
        for (const t of odd) {
          expect(t.failure).toBeUndefined();
          const f0 = t.frames[0];
          expect(f0.module).not.toBeNull();
          expect(f0.module!.startsWith(dir)).toBe(true);
          // Live, every file is opened through /proc/<pid>/map_files: all four are named.
          expect([f0.symbol, t.name]).toEqual(['odd_spin', t.name]);
          expect(t.frames[1]?.symbol).toBe('run');
          expect(t.complete).toBe(true);
        }
        // The module paths as the kernel prints them (the newline escaped as \012; a literal
        // " (deleted)" suffix cannot be told from a deleted file and is stripped).
        expect(odd.map((t) => t.frames[0].module!.slice(dir.length + 1)).sort()).toEqual(
          ['lib', 'lib with spaces.so', 'lib\\012newline.so', 'really-deleted.so'].sort(),
        );
      }
      // Offline, files are opened by path: the escaped and the deleted ones cannot be found,
      // and unwind says so. Accepted anyway, their symbol is null, but nothing throws and the
      // walk still ends with a reason.
      const file = path.join(dir, 'capture.json');
      await captureToFile(target.pid, file);
      expect(() => snapshotFromFile(file)).toThrow(/3 modules changed since the capture: .*\(no longer exists\)/);
      const offline = snapshotFromFile(file, undefined, { allowChangedModules: true });
      for (const t of offline.threads.filter((x) => /^odd\d$/.test(x.name))) {
        expect([null, 'odd_spin']).toContain(t.frames[0].symbol);
        expect(END_REASONS).toContain(t.end);
      }
      expect(offline.threads.find((t) => t.name === 'odd0')?.frames[0].symbol).toBe('odd_spin');
      // With the modules embedded (read through map_files while the process lives), all four are named.
      await captureToFile(target.pid, file, undefined, { embedModules: true });
      const embedded = snapshotFromFile(file).threads.filter((x) => /^odd\d$/.test(x.name));
      expect(embedded.map((t) => t.frames[0].symbol)).toEqual(['odd_spin', 'odd_spin', 'odd_spin', 'odd_spin']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
