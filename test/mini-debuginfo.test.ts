// MiniDebugInfo: the symbols of static functions, kept in an xz-compressed ELF in the section
// .gnu_debugdata of a stripped binary (Fedora, RHEL). The fixture is made at test time with
// the recipe of gdb's manual (the one Fedora's find-debuginfo follows); eu-stack and gdb, which
// both read .gnu_debugdata, are the oracles for the frames' names; the `xz` tool is the oracle
// for the decoder.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { binding } from '../src/addon';
import { crc32 } from '../src/elf/build-id';
import { FdSource } from '../src/elf/elf-file';
import type { XzDecompress } from '../src/elf/mini-debuginfo';
import { snapshot, type Frame, type Snapshot } from '../src/index';
import { loadElfModule, type Module } from '../src/symbolize/module-cache';
import { Symbolizer } from '../src/symbolize/symbolizer';
import { FIXTURES_DIR } from './helpers/fixtures';
import { euStack, gdbStacks } from './helpers/stack-oracles';
import { startTarget, stopAllTargets } from './helpers/target';

const LOCALS = ['local_leaf', 'local_middle', 'local_outer'];

// The recipe of gdb's manual (section "MiniDebugInfo"), on the binary named $1: keep the
// function symbols .dynsym lacks, in a copy of the debug info stripped of everything else,
// xz it, strip the binary and add the result as .gnu_debugdata. Leaves $1.debug (the full
// debug file) and $1.mini.xz next to it.
const FEDORA_RECIPE = `
set -eu
export LC_ALL=C
nm -D "$1" --format=posix --defined-only | awk '{ print $1 }' | sort > "$1.dynsyms"
nm "$1" --format=posix --defined-only | awk '{ if ($2 == "T" || $2 == "t" || $2 == "D") print $1 }' | sort > "$1.funcsyms"
comm -13 "$1.dynsyms" "$1.funcsyms" > "$1.keep_symbols"
objcopy --only-keep-debug "$1" "$1.debug"
objcopy -S --remove-section .gdb_index --remove-section .comment --keep-symbols="$1.keep_symbols" "$1.debug" "$1.mini"
strip --strip-all -R .comment "$1"
xz -f "$1.mini"
objcopy --add-section .gnu_debugdata="$1.mini.xz" "$1"
`;

// The tools run without the test's LD_PRELOAD: under scripts/build-asan.sh it carries libasan,
// and gdb hangs with it preloaded.
const TOOL_ENV: NodeJS.ProcessEnv = { ...process.env };
delete TOOL_ENV.LD_PRELOAD;

let dir = '';
const bin = (name: string): string => path.join(dir, name);

function run(cmd: string, args: string[], cwd = dir): string {
  return execFileSync(cmd, args, {
    cwd,
    env: TOOL_ENV,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 1 << 26,
    timeout: 120_000,
  });
}

/** Compiles the fixture to `name`: PIE, -rdynamic (globals in .dynsym), no build-id (so no debug file is found). */
function compile(name: string): void {
  const src = path.join(FIXTURES_DIR, 'minidebuginfo.c');
  run('gcc', [
    '-O1',
    '-g',
    '-fno-omit-frame-pointer',
    '-fno-optimize-sibling-calls',
    '-Wall',
    '-Wextra',
    '-Werror',
    '-rdynamic',
    '-Wl,--build-id=none',
    '-o',
    name,
    src,
  ]);
}

/** A copy of the MiniDebugInfo binary with .gnu_debugdata replaced by `data`. */
function withDebugdata(name: string, data: Buffer): string {
  fs.writeFileSync(bin(`${name}.data`), data);
  run('objcopy', ['--update-section', `.gnu_debugdata=${name}.data`, 'mini', name]);
  return bin(name);
}

/** The module as the symbolizer builds it, with this machine's debug roots. */
function loadModule(file: string, xz: XzDecompress | undefined, roots = ['']): Module {
  const fd = fs.openSync(file, 'r');
  try {
    return loadElfModule(new FdSource(fd), file, roots, xz);
  } finally {
    fs.closeSync(fd);
  }
}

/** name of the symbol the module gives at each address (null: none). */
function nameAt(mod: Module, vaddr: bigint): string | null {
  const hit = { index: 0, offset: 0 };
  return mod.symbols !== null && mod.symbols.lookup(vaddr, hit) ? mod.symbols.name(hit.index) : null;
}

/** Function symbols of the unstripped build, from nm: the names every build must give back. */
function nmFunctions(file: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of run('nm', ['--format=posix', '--defined-only', file]).split('\n')) {
    const [name, type, value] = line.split(' ');
    if (type === 'T' || type === 't') out.set(name, BigInt(`0x${value}`));
  }
  return out;
}

/** The xz decoder, counting its calls (to see when MiniDebugInfo is, and is not, decompressed). */
function countingXz(): { xz: XzDecompress; calls: () => number } {
  let n = 0;
  return {
    xz: (b) => {
      n++;
      return binding.xzDecompress(b);
    },
    calls: () => n,
  };
}

function mainThreadFrames(shot: Snapshot, module: string): Frame[] {
  const main = shot.threads.find((t) => t.tid === shot.pid);
  expect(main).toBeDefined();
  return main!.frames.filter((f) => f.module === module);
}

/** Snapshots `file` running and checks every frame in it against eu-stack and gdb; returns the names. */
async function namesMatchOracles(file: string): Promise<(string | null)[]> {
  const t = await startTarget(file, [], { mainBlocked: true });
  const shot = await snapshot(t.pid);
  const ours = mainThreadFrames(shot, file);
  const eu = euStack(t.pid).get(t.pid) ?? [];
  const gdb = new Map((gdbStacks(t.pid).get(t.pid) ?? []).map((f) => [f.pc, f.name]));
  // Same frames (unwinding is not under test here, but names are compared pc by pc).
  const main = shot.threads.find((th) => th.tid === t.pid)!;
  expect(main.frames.map((f) => f.pc)).toEqual(eu.map((f) => f.pc));
  const euName = new Map(eu.map((f) => [f.pc, f.name]));
  expect(ours.map((f) => f.symbol)).toEqual(ours.map((f) => euName.get(f.pc)));
  expect(ours.map((f) => f.symbol)).toEqual(ours.map((f) => gdb.get(f.pc)));
  return ours.map((f) => f.symbol);
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-mdi-'));
  compile('full'); // unstripped: the reference for nm
  compile('mini');
  run('sh', ['-c', FEDORA_RECIPE, 'recipe', 'mini']);
  compile('plain');
  run('strip', ['--strip-all', 'plain']); // stripped the usual way: .dynsym only
}, 60_000);

afterEach(async () => {
  await stopAllTargets();
});

afterAll(() => {
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('xzDecompress (liblzma through the addon)', () => {
  /** Compresses with the xz tool: the oracle for the format. */
  const xz = (data: Buffer, args: string[]): Buffer =>
    execFileSync('xz', ['-c', ...args], { input: data, env: TOOL_ENV, maxBuffer: 1 << 28 });
  /** Whether `xz -t` accepts the data (with the decoder's memory limit). */
  const xzAccepts = (data: Buffer): boolean =>
    spawnSync('xz', ['-t', '--memlimit=128MiB'], { input: data, env: TOOL_ENV }).status === 0;

  const text = Buffer.from(Array.from({ length: 20000 }, (_, i) => `line ${i} ${(i * 7919) % 1000}\n`).join(''));
  const random = randomBytes(300_000);
  const zeros = Buffer.alloc(3 << 20); // compresses ~1000x: the output is far larger than any guess from the input

  it('gives back exactly what the xz tool compressed, with every preset, check and layout', () => {
    const cases: [string, Buffer, string[]][] = [
      ['text, default', text, []],
      ['text, -0 no check', text, ['-0', '--check=none']],
      ['text, -9e crc32', text, ['-9e', '--check=crc32']],
      ['random, sha256', random, ['--check=sha256']],
      ['zeros', zeros, []],
      ['empty', Buffer.alloc(0), []],
      ['text, many blocks', text, ['-T2', '--block-size=16KiB']],
    ];
    for (const [what, data, args] of cases) {
      expect(binding.xzDecompress(xz(data, args)).equals(data), what).toBe(true);
    }
    // Concatenated streams and stream padding decode as `xz -d` decodes them.
    const two = Buffer.concat([xz(text, []), Buffer.alloc(8), xz(random, ['-1']), Buffer.alloc(4)]);
    expect(xzAccepts(two)).toBe(true);
    expect(binding.xzDecompress(two).equals(Buffer.concat([text, random]))).toBe(true);
  });

  it('rejects what xz rejects, with liblzma’s error code, and output beyond the cap', () => {
    const good = xz(text, []);
    const code = (data: Buffer, maxOutput?: number): string => {
      try {
        binding.xzDecompress(data, maxOutput);
      } catch (e) {
        expect((e as Error).message).toMatch(/^xz: /);
        return (e as { code: string }).code;
      }
      return 'decoded';
    };
    const flipped = Buffer.from(good);
    flipped[good.length >> 1] ^= 0x10;
    const cases: [string, Buffer, string][] = [
      ['flipped byte', flipped, 'LZMA_DATA_ERROR'],
      ['truncated by 1', good.subarray(0, good.length - 1), 'LZMA_DATA_ERROR'],
      ['truncated by 12', good.subarray(0, good.length - 12), 'LZMA_DATA_ERROR'],
      ['truncated to half', good.subarray(0, good.length >> 1), 'LZMA_DATA_ERROR'],
      ['padding not a multiple of 4', Buffer.concat([good, Buffer.alloc(3)]), 'LZMA_DATA_ERROR'],
      ['not xz', Buffer.concat([Buffer.from('\x7fELF'), randomBytes(500)]), 'LZMA_FORMAT_ERROR'],
    ];
    for (const [what, data, expected] of cases) {
      expect(xzAccepts(data), what).toBe(false);
      expect(code(data), what).toBe(expected);
    }
    // A (valid) header asking for a 4 GiB dictionary: refused by the memory limit, as xz does.
    const huge = Buffer.from(good);
    expect(huge.subarray(12, 16).equals(Buffer.from([0x02, 0x00, 0x21, 0x01]))).toBe(true); // block header: LZMA2, 1 property byte
    huge[16] = 40; // dictionary size 4 GiB − 1
    huge.writeUInt32LE(crc32(huge.subarray(12, 20)), 20);
    expect(xzAccepts(huge)).toBe(false);
    expect(spawnSync('xz', ['-t', '--memlimit=128MiB'], { input: huge, env: TOOL_ENV }).stderr.toString()).toMatch(
      /[Mm]emory usage limit/,
    );
    expect(code(huge)).toBe('LZMA_MEMLIMIT_ERROR');
    // The cap is checked against the size the stream declares, before any decoding.
    expect(code(xz(zeros, []), 1 << 20)).toBe('XZ_TOO_LARGE');
    expect(code(xz(zeros, []), zeros.length)).toBe('decoded');
    expect(() => binding.xzDecompress('text' as unknown as Buffer)).toThrow(TypeError);
  });

  it('survives hostile streams: mutated headers, indexes and footers decode right or fail with a code', () => {
    // Two streams, the second of many blocks: the sizes read from the end are all untrusted.
    const small = text.subarray(0, 40_000);
    const good = Buffer.concat([xz(small.subarray(0, 5000), []), xz(small, ['-T2', '--block-size=8KiB'])]);
    const original = Buffer.concat([small.subarray(0, 5000), small]);
    const codes = new Set([
      'LZMA_DATA_ERROR',
      'LZMA_FORMAT_ERROR',
      'LZMA_OPTIONS_ERROR',
      'LZMA_MEMLIMIT_ERROR',
      'XZ_TOO_LARGE',
    ]);
    let seed = 12345;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
    const seen = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const bad = Buffer.from(good);
      for (let k = 1 + rand(3); k > 0; k--) {
        // Mostly the structural bytes: the headers at the start and the index and footer at the end.
        const at = rand(4) === 0 ? rand(bad.length) : rand(2) === 0 ? rand(32) : bad.length - 1 - rand(96);
        bad[at] = rand(3) === 0 ? 0 : rand(256);
      }
      try {
        expect(binding.xzDecompress(bad, 1 << 24).equals(original)).toBe(true);
        seen.set('decoded', (seen.get('decoded') ?? 0) + 1);
      } catch (e) {
        const code = (e as { code: string }).code;
        expect(codes, (e as Error).message).toContain(code);
        seen.set(code, (seen.get(code) ?? 0) + 1);
      }
    }
    expect(seen.get('LZMA_DATA_ERROR')).toBeGreaterThan(1000);
  });
});

describe('MiniDebugInfo', () => {
  it('the fixture is what Fedora ships: stripped, .gnu_debugdata holding only the local functions', () => {
    const sections = run('readelf', ['-SW', bin('mini')]);
    expect(sections).toMatch(/\.gnu_debugdata/);
    expect(sections).not.toMatch(/\.symtab/);
    expect(run('readelf', ['-nW', bin('mini')])).not.toMatch(/Build ID/);
    const kept = fs.readFileSync(bin('mini.keep_symbols'), 'utf8').split('\n');
    for (const f of LOCALS) expect(kept).toContain(f);
    expect(kept).not.toContain('exported_entry');
  });

  it('names every function of the unstripped build (nm) from MiniDebugInfo and .dynsym together', () => {
    const mod = loadModule(bin('mini'), binding.xzDecompress);
    expect(mod.miniDebugInfo).toBe(true);
    expect(mod.reason).toBeUndefined();
    expect(mod.debugFile).toBeUndefined(); // no debug file anywhere: the names come from the section
    const fns = nmFunctions(bin('full'));
    for (const f of [...LOCALS, 'exported_entry', 'main']) expect(fns.has(f)).toBe(true);
    for (const [name, vaddr] of fns) expect(nameAt(mod, vaddr), name).toBe(name);
    // The plainly stripped build names the exported ones only.
    const plain = loadModule(bin('plain'), binding.xzDecompress);
    expect(plain.miniDebugInfo).toBe(false);
    for (const f of LOCALS) expect(nameAt(plain, fns.get(f)!)).not.toBe(f);
    expect(nameAt(plain, fns.get('exported_entry')!)).toBe('exported_entry');
  });

  it('a live snapshot names the frames in static functions as eu-stack and gdb do', async () => {
    const names = await namesMatchOracles(bin('mini'));
    for (const f of LOCALS) expect(names).toContain(f);
    expect(names).toContain('exported_entry');
  }, 60_000);

  it('is decompressed once per file, however many processes and lookups', async () => {
    const a = await startTarget(bin('mini'), [], { mainBlocked: true });
    const b = await startTarget(bin('mini'), [], { mainBlocked: true });
    const { xz, calls } = countingXz();
    const s = new Symbolizer({ xzDecompress: xz });
    for (const t of [a, b, a]) {
      const shot = await snapshot(t.pid);
      const frames = shot.threads.find((th) => th.tid === t.pid)!.frames;
      const maps = fs.readFileSync(`/proc/${t.pid}/maps`, 'utf8');
      const pcs = frames.map((f) => ({ pc: BigInt(f.pc), isReturnAddress: f.returnAddress }));
      expect(s.symbolize(t.pid, maps, pcs).map((n) => n.symbol)).toEqual(frames.map((f) => f.symbol));
    }
    expect(calls()).toBe(1);
  }, 60_000);

  it('is not decompressed when .symtab or a separate debug file is there (gdb and elfutils prefer them)', () => {
    const fns = nmFunctions(bin('full'));
    // An unstripped binary that also carries .gnu_debugdata.
    run('objcopy', ['--add-section', '.gnu_debugdata=mini.mini.xz', 'full', 'full+mini']);
    const unstripped = countingXz();
    const full = loadModule(bin('full+mini'), unstripped.xz);
    expect(unstripped.calls()).toBe(0);
    expect(full.miniDebugInfo).toBe(false);
    for (const f of LOCALS) expect(nameAt(full, fns.get(f)!)).toBe(f);
    // The MiniDebugInfo binary with a .gnu_debuglink to its full debug file, as Fedora ships
    // them: installed, the debug file gives the names; removed, MiniDebugInfo does.
    fs.copyFileSync(bin('mini.debug'), bin('linked.debug'));
    run('objcopy', ['--add-gnu-debuglink=linked.debug', 'mini', 'linked']);
    const withDebug = countingXz();
    const linked = loadModule(bin('linked'), withDebug.xz);
    expect(linked.debugFile).toBe(bin('linked.debug'));
    expect(withDebug.calls()).toBe(0);
    for (const f of LOCALS) expect(nameAt(linked, fns.get(f)!)).toBe(f);
    fs.renameSync(bin('linked.debug'), bin('linked.debug.away'));
    const withoutDebug = countingXz();
    const alone = loadModule(bin('linked'), withoutDebug.xz);
    expect(alone.debugFile).toBeUndefined();
    expect(withoutDebug.calls()).toBe(1);
    expect(alone.miniDebugInfo).toBe(true);
    for (const f of LOCALS) expect(nameAt(alone, fns.get(f)!)).toBe(f);
  });

  it('a damaged .gnu_debugdata leaves the .dynsym names and a reason, never an exception', () => {
    const fns = nmFunctions(bin('full'));
    const xzData = fs.readFileSync(bin('mini.mini.xz'));
    const flipped = Buffer.from(xzData);
    flipped[xzData.length >> 1] ^= 0xff;
    const notElf = execFileSync('xz', ['-c'], {
      env: TOOL_ENV,
      input: Buffer.from('not an ELF file, but valid xz\n'.repeat(10)),
    });
    const cases: [string, Buffer, RegExp][] = [
      ['flipped', flipped, /^MiniDebugInfo: xz: .* \(LZMA_DATA_ERROR\)$/],
      ['truncated', xzData.subarray(0, xzData.length >> 1), /^MiniDebugInfo: xz: .* \(LZMA_DATA_ERROR\)$/],
      ['notxz', randomBytes(xzData.length), /^MiniDebugInfo: xz: not xz data \(LZMA_FORMAT_ERROR\)$/],
      ['empty', Buffer.alloc(0), /^MiniDebugInfo: xz: .* \(LZMA_DATA_ERROR\)$/],
      ['notelf', notElf, /^MiniDebugInfo: embedded file: not an ELF file$/],
    ];
    for (const [name, data, reason] of cases) {
      const mod = loadModule(withDebugdata(name, data), binding.xzDecompress);
      expect(mod.reason, name).toMatch(reason);
      expect(mod.miniDebugInfo, name).toBe(false);
      expect(mod.symbols, name).not.toBeNull();
      expect(nameAt(mod, fns.get('exported_entry')!), name).toBe('exported_entry');
      expect(nameAt(mod, fns.get('main')!), name).toBe('main');
      for (const f of LOCALS) expect(nameAt(mod, fns.get(f)!), name).not.toBe(f);
    }
    // Without a decoder the section is not read, and the module says so.
    expect(loadModule(bin('mini'), undefined).reason).toBe('MiniDebugInfo: no xz decoder was given');
  });

  it('a live snapshot of a damaged binary has the .dynsym names where eu-stack and gdb have them', async () => {
    const xzData = fs.readFileSync(bin('mini.mini.xz'));
    const flipped = Buffer.from(xzData);
    flipped[xzData.length >> 1] ^= 0xff;
    const names = await namesMatchOracles(withDebugdata('damaged', flipped));
    expect(names).toContain('exported_entry');
    expect(names).toContain(null); // the static functions: nothing names them now
  }, 60_000);
});
