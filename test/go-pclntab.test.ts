// Stripped Go binaries (`go build -ldflags='-s -w'`: no .symtab, no DWARF) are named from
// .gopclntab, the table Go keeps for its own tracebacks. Oracle: the same program built with
// symbols (the same code at the same addresses): every function symbol's name, but for the
// `.abi0` suffix .symtab gives assembly functions and the compiler's `type..` helpers, which the
// table names as Go's runtime does (`type..eq.[...]T` for `type..eq.[5]T`).
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { BufferSource, ElfFile } from '../src/elf/elf-file';
import { SymbolTable, symbolSources } from '../src/elf/symbols';
import { binding, type RawCapture, type RawUnwound } from '../src/addon';
import { snapshotSync } from '../src/index';
import { captureSync } from '../src/snapshot';
import { ModuleRegistry, type UnwindMappings } from '../src/symbolize/module-registry';
import { unwindSections } from '../src/unwind/unwind-table';
import { GoPclntab } from '../src/symbolize/resolvers/go-pclntab';
import { buildCached, FIXTURES_DIR } from './helpers/fixtures';
import { threadStates } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';
import { SYNTHETIC_SP, walkSynthetic } from './helpers/synthetic-walk';
import { readelfSizedFunctions } from './helpers/readelf';

const HAVE_GO = have('go');
const SOURCE = path.join(FIXTURES_DIR, 'gostacks.go');

afterEach(async () => {
  await stopAllTargets();
});

/** How a Go fixture is built: an executable (Go's default) or position-independent. */
type GoBuildMode = 'exe' | 'pie';

function buildGo(stripped: boolean, source = SOURCE, goarch = 'amd64', mode: GoBuildMode = 'exe'): string {
  const version = execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
  const variant = [
    goarch === 'amd64' ? '' : `-${goarch}`,
    mode === 'exe' ? '' : `-${mode}`,
    stripped ? '-stripped' : '',
  ];
  const name = path.basename(source, '.go') + variant.join('');
  return buildCached(name, [version, name, fs.readFileSync(source)], (tmp) => {
    const env: NodeJS.ProcessEnv = { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off', GOARCH: goarch };
    delete env.LD_PRELOAD;
    const flags = [`-buildmode=${mode}`, ...(stripped ? ['-ldflags=-s -w'] : [])];
    execFileSync('go', ['build', ...flags, '-o', tmp, source], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  });
}

/**
 * The captured threads unwound, with the CFI of `module`'s code mappings replaced by table
 * `cfi` if given. Its code must have a table of its own: else there is nothing to compare.
 */
function unwindWith(raw: RawCapture, mappings: UnwindMappings, module: string, cfi?: number): RawUnwound[] {
  // Every module loaded up front (a walk would load those it reaches): the swap needs their rows.
  for (let row = 0; row < mappings.rows.length / 4; row++) {
    if ((mappings.rows[row * 4 + 3] & 2n) !== 0n) mappings.load(row);
  }
  const swapped = mappings.rows.slice();
  if (cfi !== undefined) {
    let code = 0;
    raw.maps
      .split('\n')
      .filter((l) => l !== '')
      .forEach((line, i) => {
        if (!line.endsWith(` ${module}`) || (swapped[i * 4 + 3] & 1n) === 0n) return;
        expect(swapped[i * 4 + 3] >> 2n > 0n, `${line}: no unwind table`).toBe(true);
        swapped[i * 4 + 3] = BigInt(cfi * 4 + 1);
        code++;
      });
    expect(code).toBeGreaterThan(0);
  }
  const threads = raw.threads
    .filter((t) => t.status === 'captured')
    .map((t) =>
      t.capture === 'blocked' ? { ...t, partialRegs: true } : t.capture === 'perf' ? { ...t, sampled: true } : t,
    );
  return binding.unwind({ arch: binding.arch, pid: raw.pid, maxFrames: 512, mappings: swapped, threads });
}

const elfOf = (file: string): ElfFile => new ElfFile(new BufferSource(fs.readFileSync(file)));
const withoutAbi = (name: string): string => name.replace(/\.abi0$/, '');

describe.skipIf(!HAVE_GO)('stripped Go binaries (needs go)', () => {
  // A position-independent build keeps the table in .data.rel.ro.gopclntab.
  it.each(['exe', 'pie'] as const)("%s: name every function as the unstripped build's .symtab does", (mode) => {
    const stripped = elfOf(buildGo(true, SOURCE, 'amd64', mode));
    expect(stripped.section('.symtab')).toBeUndefined();
    const table = GoPclntab.read(stripped)!;
    expect(table).not.toBeNull();
    const symbols = readelfSizedFunctions(buildGo(false, SOURCE, 'amd64', mode)).filter(
      (s) => !s.name.startsWith('type..'),
    );
    expect(symbols.length).toBeGreaterThan(1000);
    const wrong = symbols.filter((s) => {
      const hit = table.lookup(s.addr);
      return hit === null || hit.name !== withoutAbi(s.name) || hit.offset !== 0;
    });
    expect(wrong.map((s) => `${s.name}: ${JSON.stringify(table.lookup(s.addr))}`)).toEqual([]);
  });

  it('a live stripped program: every thread complete, every frame named as with symbols', async () => {
    const binary = buildGo(true);
    const target = await startTarget(binary);
    for (let i = 0; ; i++) {
      const states = [...threadStates(target.pid).values()];
      if (states.length >= 5 && states.filter((s) => s === 'R').length <= 1) break;
      if (i > 500) throw new Error(`threads never settled: ${states.join('')}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const full = elfOf(buildGo(false));
    const symbols = new SymbolTable(symbolSources(full));
    const hit = { index: 0, offset: 0 };
    let named = 0;
    for (const t of snapshotSync(target.pid).threads) {
      const frames = t.frames.map((f) => `${f.symbol ?? '?'}@${f.pc}`).join(' < ');
      expect(t.complete, `thread ${t.tid} ${t.state} by ${t.capture} (${t.end}): ${frames}`).toBe(true);
      t.frames.forEach((f, i) => {
        expect(f.module).toBe(binary);
        const vaddr = full.fileOffsetToVaddr(BigInt(f.moduleOffset!))! - (i > 0 ? 1n : 0n);
        expect(symbols.lookup(vaddr, hit)).toBe(true);
        expect(f.symbol).toBe(withoutAbi(symbols.name(hit.index)));
        expect(f.symbolOffset).toBe(hit.offset + (i > 0 ? 1 : 0));
        named++;
      });
    }
    expect(named).toBeGreaterThan(10);
  });

  it.each(['exe', 'pie'] as const)(
    "%s: a stripped binary unwinds as its unstripped twin: .gopclntab's CFI gives Go's own .debug_frame's frames",
    async (mode) => {
      const source = path.join(FIXTURES_DIR, 'gochurn.go');
      const binary = buildGo(true, source, 'amd64', mode);
      const twin = unwindSections(elfOf(buildGo(false, source, 'amd64', mode)))!;
      expect(twin.debugFrame).toBeDefined(); // Go's linker's, from the same pcsp tables
      const twinCfi = binding.loadCfi(twin);
      const target = await startTarget(binary);
      const registry = new ModuleRegistry();
      let stacks = 0;
      let frames = 0;
      try {
        for (let i = 0; i < 150; i++) {
          const { raw } = captureSync(target.pid);
          const mappings = registry.unwindMappings(raw.pid, raw.maps);
          const ours = unwindWith(raw, mappings, binary);
          const go = unwindWith(raw, mappings, binary, twinCfi);
          ours.forEach((u, k) => {
            const hex = (x: RawUnwound): string => `${[...x.pcs].map((pc) => pc.toString(16)).join(' ')} (${x.end})`;
            expect(hex(u), `capture ${i}, thread ${k}`).toBe(hex(go[k]));
            frames += u.pcs.length;
          });
          stacks += ours.length;
        }
      } finally {
        binding.unloadCfi(twinCfi);
        registry.clear();
      }
      expect(stacks).toBeGreaterThan(300);
      expect(frames / stacks).toBeGreaterThan(3);
    },
  );

  it("arm64: .gopclntab's CFI takes every function's frame as Go's own .debug_frame does", () => {
    const source = path.join(FIXTURES_DIR, 'gochurn.go');
    const stripped = elfOf(buildGo(true, source, 'arm64'));
    const ours = unwindSections(stripped)!;
    const go = unwindSections(elfOf(buildGo(false, source, 'arm64')))!;
    expect([ours.arch, go.arch]).toEqual(['arm64', 'arm64']);
    expect(ours.debugFrame).toBeDefined();
    // Offline, no process: a made-up stack at SP whose words are return addresses into the
    // text, each the entry of another function plus one instruction (so each names its slot).
    const text = stripped.loads.find((l) => (l.flags & 1) !== 0)!;
    const functions = [...GoPclntab.read(stripped)!.stackSteps()];
    const stack = Buffer.alloc(8192);
    for (let i = 0; i < stack.length / 8; i++)
      stack.writeBigUInt64LE(functions[(i * 7) % functions.length].entry + 4n, i * 8);
    const pcs = functions.flatMap((f) =>
      [0, ...f.ends.slice(0, -1), f.ends[f.ends.length - 1] - 4].map((o) => f.entry + BigInt(o)),
    );
    const threads = pcs.map((pc) => ({ pc, sp: SYNTHETIC_SP, fp: 0n, lr: functions[1].entry + 4n, stack }));
    const walk = (cfi: number): string[] =>
      walkSynthetic('arm64', text, cfi, threads).map(
        (u) => `${[...u.pcs].map((pc) => pc.toString(16)).join(' ')} (${u.end})`,
      );
    const [oursId, goId] = [binding.loadCfi(ours), binding.loadCfi(go)];
    try {
      const [a, b] = [walk(oursId), walk(goId)];
      expect(a.length).toBeGreaterThan(1000);
      a.forEach((x, i) => expect(x, `pc 0x${pcs[i].toString(16)}`).toBe(b[i]));
      // A frame whose return address was saved on the stack found it there: the rule was applied.
      const fromStack = a.filter((x) => x.split(' ').length >= 3).length;
      expect(fromStack).toBeGreaterThan(a.length / 4);
    } finally {
      binding.unloadCfi(oursId);
      binding.unloadCfi(goId);
    }
  });

  it('a damaged table names nothing wrong: mutated and cut tables give text names or none', () => {
    const elf = elfOf(buildGo(true));
    const section = elf.section('.gopclntab')!;
    const good = elf.sectionData(section);
    const text = elf.section('.text')!.addr;
    const probes = readelfSizedFunctions(buildGo(false)).map((s) => s.addr);
    let seed = 14;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 300; round++) {
      const bytes = Buffer.from(good.subarray(0, round % 3 === 0 ? random(good.length) : good.length));
      // Odd rounds damage anywhere (the pcsp tables too), even ones the header and function table.
      const reach = round % 2 === 1 ? bytes.length : 4096;
      for (let k = 0; k < 8 && bytes.length > 0; k++) bytes[random(Math.min(bytes.length, reach))] = random(256);
      const table = GoPclntab.parse(bytes, text);
      for (let p = 0; p < 50 && table !== null; p++) {
        const hit = table.lookup(probes[random(probes.length)]);
        if (hit !== null) expect(hit.name).toMatch(/^[^\p{Cc}\ufffd]+$/u);
      }
      if (round % 10 === 1 && table !== null) {
        for (const f of table.stackSteps()) {
          f.ends.forEach((end, i) => {
            expect(end > (i > 0 ? f.ends[i - 1] : 0) && f.deltas[i] >= -4096 && f.deltas[i] < 2 ** 31).toBe(true);
          });
        }
      }
    }
    // A table of another Go version (1.16's magic) is not misread.
    const old = Buffer.from(good);
    old.writeUInt32LE(0xfffffffa, 0);
    expect(GoPclntab.parse(old, text)).toBeNull();
  });
});
