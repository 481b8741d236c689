// Symbolization of live stacks against the oracles: every frame of every thread of a running
// fixture (test/fixtures/symdiff.c: chains of named functions, static ones among them, through
// a dlopen'ed library into libc and the vdso) must carry the name eu-stack gives it, in each
// way a binary can hold its symbols: PIE, non-PIE, stripped with a .gnu_debuglink debug file,
// stripped with a build-id debug file, stripped to .dynsym, deleted after start, linked by lld;
// and libc with libc6-dbg's names, or .dynsym's without a debug file. Then JIT frames: a node
// and a Python process naming their functions through /tmp/perf-<pid>.map.
//
// Where names may legitimately differ: several symbols often share one address (glibc's
// `clone3`, `__clone3`, `__GI___clone3`) and each tool picks one by its own rule. Such a
// difference passes only if readelf lists both names at the very address our symbol starts at.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { snapshotSync, type Frame, type Snapshot, type ThreadStack } from '../src/index';
import { formatThreadText } from '../src/output/text';
import { parseMaps } from '../src/procfs/maps';
import { FIXTURES_DIR } from './helpers/fixtures';
import { assertDetached, findThreadByName, threadState } from './helpers/proc';
import {
  buildIdDebugPath,
  installedDebugFile,
  readelfDynamicFunctionNames,
  readelfFunctions,
  readelfLoads,
  sectionRange,
  vaddrOfFileOffset,
  type ElfFunctions,
  type Load,
} from './helpers/readelf';
import { euStack, gdbStacks, HAVE_EU_STACK, HAVE_GDB, type OracleFrame } from './helpers/stack-oracles';
import { startNode, startTarget, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

afterEach(async () => {
  await stopAllTargets();
});

const HAVE_LLD = have('ld.lld');
const BUILD_ID_DIR = '/usr/lib/debug/.build-id';
/** Installing a debug file where build-id lookups look needs write access there (root in CI). */
const CAN_INSTALL_DEBUG = (() => {
  let d = BUILD_ID_DIR;
  while (!fs.existsSync(d)) d = path.dirname(d);
  try {
    fs.accessSync(d, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

// ---- building the fixture's variants ----

const SOURCE = path.join(FIXTURES_DIR, 'symdiff.c');
const LIB_SOURCE = path.join(FIXTURES_DIR, 'symdiff_lib.c');
const CFLAGS = ['-O1', '-g', '-pthread', '-fno-optimize-sibling-calls', '-Wall', '-Wextra'];
const PIE = ['-fPIE', '-pie'];

let dir = '';
let lib = '';
/** What the tests create outside `dir` (the build-id debug file), removed after them. */
const outside: { file: string; firstCreatedDir?: string }[] = [];

function run(tool: string, args: string[]): void {
  try {
    execFileSync(tool, args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`${tool} ${args.join(' ')} failed:\n${(e as { stderr?: string }).stderr ?? String(e)}`, {
      cause: e,
    });
  }
}

/** A build-id no other file has: a debug file installed under it cannot be anyone else's. */
const uniqueBuildId = (): string => `-Wl,--build-id=0x${randomBytes(20).toString('hex')}`;

interface Build {
  binary: string;
  /** The separate debug file of the binary, when the variant has one. */
  debugFile?: string;
}

const builds = new Map<string, Build>();

/** Builds a variant once (in the test that needs it: skipped cases build nothing). */
function build(name: string, make: (out: string) => Omit<Build, 'binary'> | void): Build {
  let b = builds.get(name);
  if (b === undefined) {
    const binary = path.join(dir, `symdiff-${name}`);
    b = { binary, ...(make(binary) ?? {}) };
    builds.set(name, b);
  }
  return b;
}

const VARIANTS: Record<string, () => Build> = {
  pie: () => build('pie', (out) => run('gcc', [...CFLAGS, ...PIE, '-o', out, SOURCE])),
  nopie: () => build('nopie', (out) => run('gcc', [...CFLAGS, '-fno-pie', '-no-pie', '-o', out, SOURCE])),
  // Stripped; the debug file in .debug/ next to it, found by the name and CRC in .gnu_debuglink.
  debuglink: () =>
    build('debuglink', (out) => {
      run('gcc', [...CFLAGS, ...PIE, uniqueBuildId(), '-o', out, SOURCE]);
      fs.mkdirSync(path.join(dir, '.debug'), { recursive: true });
      const debugFile = path.join(dir, '.debug', `${path.basename(out)}.debug`);
      run('objcopy', ['--only-keep-debug', out, debugFile]);
      run('strip', ['--strip-all', out]);
      run('objcopy', [`--add-gnu-debuglink=${debugFile}`, out]);
      return { debugFile };
    }),
  // Stripped; the debug file only where build-id lookups look: /usr/lib/debug/.build-id/xx/rest.debug.
  // There is no other way to point stackshot at a debug root, and that real path is the one to test.
  buildid: () =>
    build('buildid', (out) => {
      run('gcc', [...CFLAGS, ...PIE, uniqueBuildId(), '-o', out, SOURCE]);
      const debugFile = buildIdDebugPath(out)!;
      outside.push({ file: debugFile, firstCreatedDir: fs.mkdirSync(path.dirname(debugFile), { recursive: true }) });
      run('objcopy', ['--only-keep-debug', out, debugFile]);
      run('strip', ['--strip-all', out]);
      return { debugFile };
    }),
  // Stripped of .symtab; -rdynamic put the global functions in .dynsym. Static ones have no name left.
  dynsym: () =>
    build('dynsym', (out) => {
      run('gcc', [...CFLAGS, ...PIE, '-rdynamic', '-o', out, SOURCE]);
      run('strip', ['--strip-all', out]);
    }),
  // lld packs segments into shared pages: a mapping's file range spans several PT_LOADs.
  lld: () => build('lld', (out) => run('gcc', [...CFLAGS, ...PIE, '-fuse-ld=lld', '-o', out, SOURCE])),
};

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-symdiff-'));
  lib = path.join(dir, 'libsymdiff.so');
  run('gcc', [...CFLAGS, '-shared', '-fPIC', '-o', lib, LIB_SOURCE]);
});

afterAll(() => {
  for (const { file, firstCreatedDir } of outside) {
    fs.rmSync(file, { force: true });
    // The directories this test made for it, innermost first, as long as they are empty.
    if (firstCreatedDir === undefined) continue;
    try {
      for (let d = path.dirname(file); d.startsWith(firstCreatedDir); d = path.dirname(d)) fs.rmdirSync(d);
    } catch {
      // not empty: other debug files arrived meanwhile
    }
  }
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

// ---- a capture: our snapshot and the oracles' stacks of one running target ----

interface Capture {
  pid: number;
  shot: Snapshot;
  eu: Map<number, OracleFrame[]>;
  /** gdb's frames, when the case needs gdb (the deleted binary). */
  gdb?: Map<number, OracleFrame[]>;
  vdsoTid: number;
  vdsoImage: string;
  maps: string;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Dumps the target's vdso (it exists only in memory) for readelf. */
function dumpVdso(pid: number, maps: string): string {
  const vdso = parseMaps(maps).find((e) => e.path === '[vdso]')!;
  const image = Buffer.alloc(Number(vdso.end - vdso.start));
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    fs.readSync(fd, image, 0, image.length, vdso.start);
  } finally {
    fs.closeSync(fd);
  }
  const file = path.join(dir, `vdso-${pid}.so`);
  fs.writeFileSync(file, image);
  return file;
}

/**
 * Starts `binary` (the fixture, loading our library), waits until its blocking threads block,
 * then takes our snapshot and eu-stack's (and gdb's, for a deleted binary) until all caught the
 * spinning thread inside the vdso.
 */
async function capture(
  binary: string,
  opts: { env?: NodeJS.ProcessEnv; deleteAfterStart?: boolean } = {},
): Promise<Capture> {
  const target = await startTarget(binary, [lib], { mainBlocked: true, env: opts.env });
  const pid = target.pid;
  if (opts.deleteAfterStart) fs.unlinkSync(binary);
  for (const name of ['sleeper', 'condwait']) {
    const tid = findThreadByName(pid, name);
    for (let i = 0; threadState(pid, tid) !== 'S'; i++) {
      if (i > 500) throw new Error(`thread ${name} never blocked`);
      await sleep(10);
    }
  }
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  const vdso = parseMaps(maps).find((e) => e.path === '[vdso]')!;
  const inVdso = (pc: string | null): boolean => pc !== null && BigInt(pc) >= vdso.start && BigInt(pc) < vdso.end;
  const vdsoTid = findThreadByName(pid, 'vdso');
  // The spinning thread spends most of its time in the vdso: a few tries catch it there.
  for (let attempt = 1; ; attempt++) {
    const shot = snapshotSync(pid);
    const ours = shot.threads.find((t) => t.tid === vdsoTid)!;
    if (inVdso(ours.frames[0]?.pc ?? null)) {
      const eu = euStack(pid);
      // gdb (for a deleted binary) must catch it there too: its return addresses then match
      // ours, where elsewhere in the loop its innermost frames would differ.
      const gdb =
        opts.deleteAfterStart && inVdso(eu.get(vdsoTid)?.[0]?.pc ?? null)
          ? gdbStacks(pid, `/proc/${pid}/exe`)
          : undefined;
      if (
        inVdso(eu.get(vdsoTid)?.[0]?.pc ?? null) &&
        (!opts.deleteAfterStart || inVdso(gdb?.get(vdsoTid)?.[0]?.pc ?? null))
      ) {
        assertDetached(pid);
        return { pid, shot, eu, gdb, vdsoTid, vdsoImage: dumpVdso(pid, maps), maps };
      }
    }
    if (attempt === 30)
      throw new Error(
        '30 captures never caught the vdso thread inside the vdso (in stackshot, eu-stack and, for a deleted binary, gdb)',
      );
  }
}

// ---- comparing names ----

const functionsCache = new Map<string, ElfFunctions>();
const loadsCache = new Map<string, Load[]>();
const functionsOf = (file: string): ElfFunctions => {
  let f = functionsCache.get(file);
  if (f === undefined) functionsCache.set(file, (f = readelfFunctions(file)));
  return f;
};
const loadsOf = (file: string): Load[] => {
  let l = loadsCache.get(file);
  if (l === undefined) loadsCache.set(file, (l = readelfLoads(file)));
  return l;
};

/** Where the symbols of a module are, for the alias check. */
interface ModuleFiles {
  /** The file whose PT_LOADs place the module (the mapped file, or a copy of it). */
  file: string;
  /** Files with symbol tables for it: the file itself and its debug files. */
  symbolFiles: string[];
}

/** Every name readelf lists at the start of the symbol our frame names. */
function aliasesOf(frame: Frame, files: ModuleFiles): string[] {
  if (frame.moduleOffset === null || frame.symbolOffset === null) return [];
  const start = vaddrOfFileOffset(loadsOf(files.file), BigInt(frame.moduleOffset) - BigInt(frame.symbolOffset));
  if (start === undefined) return [];
  return files.symbolFiles.flatMap((f) => functionsOf(f).names.get(start) ?? []);
}

interface Comparison {
  /** Frames whose pc or name differs from the oracle's, one readable line each. */
  mismatches: string[];
  /** Where we and the oracle chose different aliases of one symbol: "ours / theirs (module)". */
  aliasChoices: Set<string>;
  frames: number;
}

/**
 * Every frame of every thread: the same pc as eu-stack's (the vdso thread's innermost pc moves
 * between the two captures: there both must be in the vdso) and the same name. `deleted` names
 * a module deleted after start: eu-stack opens modules by path and names nothing in it, so
 * gdb (given /proc/PID/exe) is the oracle for its frames. `files` says where a module's symbols
 * are, for the alias check.
 */
function compare(c: Capture, files: (module: string) => ModuleFiles, deleted?: string): Comparison {
  const mismatches: string[] = [];
  const aliasChoices = new Set<string>();
  let frames = 0;
  const gdbByPc = new Map<string, string | null>();
  for (const stack of c.gdb?.values() ?? []) for (const f of stack) if (f.pc !== null) gdbByPc.set(f.pc, f.name);
  expect(new Set(c.eu.keys())).toEqual(new Set(c.shot.threads.map((t) => t.tid)));
  for (const t of c.shot.threads) {
    const oracle = c.eu.get(t.tid) ?? [];
    const where = (i: number): string => `thread ${t.name} #${i}`;
    if (oracle.length !== t.frames.length) {
      mismatches.push(`thread ${t.name}: ${t.frames.length} frames, eu-stack ${oracle.length}`);
    }
    for (let i = 0; i < Math.min(oracle.length, t.frames.length); i++) {
      frames++;
      const ours = t.frames[i];
      const movingLeaf = t.tid === c.vdsoTid && i === 0;
      if (movingLeaf ? ours.module !== '[vdso]' : ours.pc !== oracle[i].pc) {
        mismatches.push(`${where(i)}: pc ${ours.pc} (${ours.module}), eu-stack ${oracle[i].pc}`);
        continue;
      }
      let theirs = oracle[i].name;
      let tool = 'eu-stack';
      if (deleted !== undefined && ours.module === deleted) {
        if (!gdbByPc.has(ours.pc)) {
          mismatches.push(`${where(i)}: gdb has no frame at ${ours.pc}`);
          continue;
        }
        theirs = gdbByPc.get(ours.pc)!;
        tool = 'gdb';
      }
      if (ours.symbol === theirs) continue;
      const aliases = ours.module === null ? [] : aliasesOf(ours, files(ours.module));
      if (ours.symbol !== null && theirs !== null && aliases.includes(ours.symbol) && aliases.includes(theirs)) {
        aliasChoices.add(`${ours.symbol} / ${tool}'s ${theirs} (${path.basename(ours.module!)})`);
      } else {
        mismatches.push(
          `${where(i)} ${ours.pc}: ours ${ours.symbol}, ${tool} ${theirs} (${ours.module}; names there: ${aliases.join(' ') || 'none'})`,
        );
      }
    }
  }
  return { mismatches, aliasChoices, frames };
}

/** Symbol files of the modules a fixture maps: its own debug file for the executable. */
function fixtureFiles(c: Capture, build: Build, deleted?: { path: string; copyOf: string }) {
  return (module: string): ModuleFiles => {
    if (module === '[vdso]') return { file: c.vdsoImage, symbolFiles: [c.vdsoImage] };
    const file = deleted !== undefined && module === deleted.path ? deleted.copyOf : module;
    const symbolFiles = [file];
    const installed = installedDebugFile(file);
    if (installed !== null) symbolFiles.push(installed);
    if (file === build.binary && build.debugFile !== undefined) symbolFiles.push(build.debugFile);
    return { file, symbolFiles };
  };
}

function threadNamed(shot: Snapshot, name: string): ThreadStack {
  const t = shot.threads.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no thread ${name} in the snapshot`);
  return t;
}

function report(label: string, r: Comparison): void {
  const choices = r.aliasChoices.size === 0 ? '' : `; other alias chosen: ${[...r.aliasChoices].join(', ')}`;
  console.log(`${label}: ${r.frames} frames compared${choices}`);
}

/** Names our fixture functions must have whenever the binary keeps any symbols of its own. */
const GLOBAL_FUNCTIONS = [
  'sleeper_leaf',
  'sleeper_thread_main',
  'cond_wait_leaf',
  'cond_thread_main',
  'vdso_spin_leaf',
  'main_wait',
];
const STATIC_FUNCTIONS = ['sleeper_static_middle', 'cond_static_middle'];
const LIB_FUNCTIONS = ['dl_sleep_outer', 'dl_sleep_static'];

function allNames(c: Capture): Set<string | null> {
  return new Set(c.shot.threads.flatMap((t) => t.frames.map((f) => f.symbol)));
}

// ---- the cases ----

const captured = new Map<string, Promise<Capture>>();
/** One capture per variant, shared by the tests that look at it. */
function captureVariant(name: string): Promise<Capture> {
  let p = captured.get(name);
  if (p === undefined) captured.set(name, (p = capture(VARIANTS[name]().binary)));
  return p;
}

describe.skipIf(!HAVE_EU_STACK)('every frame named as eu-stack names it', () => {
  const cases: { variant: string; title: string; skip?: string; statics: boolean }[] = [
    { variant: 'pie', title: 'PIE', statics: true },
    { variant: 'nopie', title: 'non-PIE', statics: true },
    { variant: 'debuglink', title: 'stripped, debug file in .debug/ by .gnu_debuglink', statics: true },
    {
      variant: 'buildid',
      title: 'stripped, debug file in /usr/lib/debug/.build-id/',
      statics: true,
      skip: CAN_INSTALL_DEBUG ? undefined : `cannot write ${BUILD_ID_DIR} (needs root)`,
    },
    { variant: 'dynsym', title: 'stripped to .dynsym (-rdynamic)', statics: false },
    {
      variant: 'lld',
      title: 'linked by lld',
      statics: true,
      skip: HAVE_LLD ? undefined : 'ld.lld missing (apt-get install lld)',
    },
  ];
  for (const k of cases) {
    it.skipIf(k.skip !== undefined)(`${k.title}${k.skip ? ` — skipped: ${k.skip}` : ''}`, async () => {
      const c = await captureVariant(k.variant);
      const b = VARIANTS[k.variant]();
      const r = compare(c, fixtureFiles(c, b));
      report(k.variant, r);
      expect(r.mismatches).toEqual([]);
      // The comparison had something to compare: our functions, the library's, the vdso's.
      const seen = allNames(c);
      for (const n of [...GLOBAL_FUNCTIONS, ...LIB_FUNCTIONS]) expect(seen, n).toContain(n);
      for (const n of STATIC_FUNCTIONS) expect(seen.has(n), n).toBe(k.statics);
      const vdsoLeaf = c.shot.threads.find((t) => t.tid === c.vdsoTid)!.frames[0];
      expect(vdsoLeaf.module).toBe('[vdso]');
      expect(vdsoLeaf.symbol).not.toBeNull();
      if (!k.statics) {
        // .dynsym has no static functions: their frames are unnamed, never the wrong neighbour's.
        const sleeper = threadNamed(c.shot, 'sleeper').frames.map((f) => f.symbol);
        expect(sleeper[sleeper.indexOf('sleeper_leaf') + 1]).toBeNull();
      }
    });
  }

  it.skipIf(!HAVE_GDB)(
    'deleted after start (its frames against gdb: eu-stack cannot open a deleted file)',
    async () => {
      const original = VARIANTS.pie().binary;
      const binary = path.join(dir, 'symdiff-deleted');
      fs.copyFileSync(original, binary);
      fs.chmodSync(binary, 0o755);
      const c = await capture(binary, { deleteAfterStart: true });
      expect(parseMaps(c.maps).some((e) => e.path === binary && e.deleted)).toBe(true);
      const r = compare(c, fixtureFiles(c, { binary: original }, { path: binary, copyOf: original }), binary);
      report('deleted', r);
      expect(r.mismatches).toEqual([]);
      const seen = allNames(c);
      for (const n of [...GLOBAL_FUNCTIONS, ...STATIC_FUNCTIONS]) expect(seen, n).toContain(n);
    },
  );
});

// ---- libc: libc6-dbg's names when installed, .dynsym's when no debug file is found ----

const libcPath = (maps: string): string => parseMaps(maps).find((e) => /\/libc\.so\.6$/.test(e.path))!.path;

describe.skipIf(!HAVE_EU_STACK)('libc frames', () => {
  const thisLibc = libcPath(fs.readFileSync('/proc/self/maps', 'utf8'));
  const libcDebug = installedDebugFile(thisLibc);

  it.skipIf(libcDebug === null)(
    `carry libc6-dbg's .symtab names, as eu-stack's${libcDebug === null ? ' — skipped: libc6-dbg not installed' : ''}`,
    async () => {
      const c = await captureVariant('pie');
      const dynamic = readelfDynamicFunctionNames(thisLibc);
      const debugNames = new Set([...functionsOf(libcDebug!).names.values()].flat());
      const libcFrames = c.shot.threads
        .flatMap((t) => t.frames.map((f) => ({ t, f })))
        .filter(({ f }) => f.module === thisLibc);
      expect(libcFrames.length).toBeGreaterThan(0);
      // Every libc frame is named, and some only libc6-dbg can name (the futex wait under
      // pthread_cond_wait, start_thread): names not in .dynsym.
      for (const { t, f } of libcFrames) expect(f.symbol, `${t.name} ${f.pc}`).not.toBeNull();
      const debugOnly = libcFrames.filter(({ f }) => !dynamic.has(f.symbol!));
      expect(debugOnly.length).toBeGreaterThan(0);
      for (const { f } of debugOnly) expect(debugNames).toContain(f.symbol);
      // ... and those are eu-stack's names for the same frames.
      const cond = threadNamed(c.shot, 'condwait');
      expect(dynamic.has(cond.frames[0].symbol!)).toBe(false);
      expect(cond.frames[0].symbol).toBe(c.eu.get(cond.tid)![0].name);
      expect(compare(c, fixtureFiles(c, VARIANTS.pie())).mismatches).toEqual([]);
    },
  );

  it('carry .dynsym names when no debug file can be found (a copy of libc without build-id and debuglink)', async () => {
    // The copy keeps every byte that matters for running and unwinding; only its build-id
    // (scrambled) and .gnu_debuglink (emptied) change, so neither tool can find libc6-dbg's file.
    const libDir = path.join(dir, 'nodebug-libc');
    fs.mkdirSync(libDir, { recursive: true });
    const copy = path.join(libDir, 'libc.so.6');
    const image = fs.readFileSync(thisLibc);
    const note = sectionRange(thisLibc, '.note.gnu.build-id');
    expect(note).not.toBeNull();
    randomBytes(note!.size - 16).copy(image, note!.offset + 16); // after namesz, descsz, type, "GNU\0"
    const link = sectionRange(thisLibc, '.gnu_debuglink');
    if (link !== null) image.fill(0, link.offset, link.offset + link.size);
    fs.writeFileSync(copy, image);
    expect(installedDebugFile(copy)).toBeNull();

    const binary = VARIANTS.pie().binary;
    const c = await capture(binary, { env: { ...process.env, LD_LIBRARY_PATH: libDir } });
    expect(libcPath(c.maps)).toBe(copy);
    const r = compare(c, fixtureFiles(c, VARIANTS.pie()));
    report('libc without debug file', r);
    expect(r.mismatches).toEqual([]);
    const dynamic = readelfDynamicFunctionNames(copy);
    const libcFrames = c.shot.threads.flatMap((t) => t.frames).filter((f) => f.module === copy);
    expect(libcFrames.filter((f) => f.symbol !== null).length).toBeGreaterThan(0);
    for (const f of libcFrames) if (f.symbol !== null) expect(dynamic, f.pc).toContain(f.symbol);
    // The futex wait under pthread_cond_wait is internal to libc: no .dynsym symbol covers it.
    const cond = threadNamed(c.shot, 'condwait');
    expect(cond.frames[0].module).toBe(copy);
    expect(cond.frames[0].symbol).toBeNull();
  });
});

// ---- JIT frames, named through the runtime's perf map ----

/** A python3 of version 3.12 or later (the first with -X perf): on PATH, else one pyenv installed. */
function findPerfPython(): { exe: string; version: string } | { missing: string } {
  const probe = (exe: string): { exe: string; version: string; ok: boolean } | null => {
    try {
      const code =
        'import os, sys; print(os.path.realpath(sys.executable)); print("%d.%d.%d" % sys.version_info[:3]); print(sys.version_info >= (3, 12))';
      const out = execFileSync(exe, ['-c', code], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(
        '\n',
      );
      return { exe: out[0], version: out[1], ok: out[2] === 'True' };
    } catch {
      return null;
    }
  };
  const onPath = probe('python3');
  if (onPath?.ok) return onPath;
  let installed: string[] = [];
  try {
    const root = execFileSync('pyenv', ['root'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    installed = fs
      .readdirSync(path.join(root, 'versions'))
      .map((v) => path.join(root, 'versions', v, 'bin', 'python3'));
  } catch {
    // no pyenv
  }
  const newest = installed
    .map(probe)
    .filter((p): p is { exe: string; version: string; ok: boolean } => p !== null && p.ok)
    .sort((a, b) => b.version.localeCompare(a.version, undefined, { numeric: true }))[0];
  return newest ?? { missing: `no python3 >= 3.12 here (python3 is ${onPath?.version ?? 'missing'})` };
}

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** The main thread, snapshotted until `ready(frames)` holds (or 50 tries: the last one). */
async function mainThreadWhen(pid: number, ready: (frames: Frame[]) => boolean): Promise<ThreadStack> {
  // Names from the perf map alone: the runtime's own memory is another source (v8-frames.test.ts).
  const opts = { runtimeFrames: false };
  let main = snapshotSync(pid, opts).threads.find((x) => x.tid === pid)!;
  for (let i = 0; i < 50 && !ready(main.frames); i++) {
    await sleep(50);
    main = snapshotSync(pid, opts).threads.find((x) => x.tid === pid)!;
  }
  return main;
}

const listing = (t: ThreadStack): string =>
  t.frames.map((f, i) => `#${i} ${f.method} ${f.symbol} (${f.module})`).join('\n');

describe('JIT frames named through /tmp/perf-<pid>.map', () => {
  /** From the leaf: spin, called by inner, called by middle, called by outer. */
  const CHAIN = ['spin', 'inner', 'middle', 'outer'];

  it("node --perf-basic-prof --interpreted-frames-native-stack: JS functions by name, in call order, above V8's entry frames", async () => {
    const script = path.join(dir, 'chain.js');
    fs.writeFileSync(
      script,
      [
        'function spin() { for (;;) {} }',
        'function inner() { spin(); }',
        'function middle() { inner(); }',
        'function outer() { middle(); }',
        "console.log('ready');",
        'outer();',
        '',
      ].join('\n'),
    );
    const t = await startNode(`require(${JSON.stringify(script)})`, [
      '--perf-basic-prof',
      '--interpreted-frames-native-stack',
    ]);
    try {
      // V8 writes `JS:<tier><name> <script>:<line>:<col>` per code object. Until spin's loop is
      // compiled, the leaf is in the interpreter's handlers: retry until it is spin's code.
      const jsFunction = (f: Frame | undefined): string | undefined => /^JS:[~^+*]?(\S*) /.exec(f?.symbol ?? '')?.[1];
      const main = await mainThreadWhen(t.pid, (frames) => jsFunction(frames[0]) === 'spin');
      const frames = main.frames;
      expect(frames.slice(0, 4).map(jsFunction), listing(main)).toEqual(CHAIN);
      for (const f of frames.slice(0, 4)) {
        expect(f.module).toBe('[anon]');
        expect(f.symbol).toMatch(new RegExp(` ${escapeRegExp(script)}:\\d+:\\d+$`));
      }
      // Below them only JS code (the script's top level, node's module loader: V8 tags functions
      // `JS:`, top-level code `Script:`), then V8's entry into JS.
      const entry = frames.findIndex((f) => /^Builtins_JSEntry/.test(f.symbol ?? ''));
      expect(entry, listing(main)).toBeGreaterThan(4);
      for (const f of frames.slice(4, entry)) expect(f.symbol, listing(main)).toMatch(/^(JS|Script):/);
      expect(
        frames.slice(entry).some((f) => /^v8::internal::Execution::Call/.test(f.symbol ?? '')),
        listing(main),
      ).toBe(true);
      // The text output reads `spin+0x44  (JS optimized, /…/chain.js:1:14)`.
      const text = formatThreadText(main).split('\n').slice(1, 5);
      CHAIN.forEach((fn, i) => {
        expect(text[i]).toMatch(
          new RegExp(
            `^#${i}\\s+0x[0-9a-f]{16}  ${fn}\\+0x[0-9a-f]+  \\(JS (interpreted|baseline|maglev|optimized), ${escapeRegExp(script)}:\\d+:\\d+\\)$`,
          ),
        );
      });
      // eu-stack, blind to JIT code, walks the same frames and names the native ones alike.
      if (HAVE_EU_STACK) {
        const oracle = euStack(t.pid).get(t.pid)!;
        const ours = snapshotSync(t.pid, { runtimeFrames: false }).threads.find((x) => x.tid === t.pid)!.frames;
        expect(ours.length).toBe(oracle.length);
        ours.forEach((f, i) => {
          if (i === 0) return; // the spinning leaf moves between the two captures
          expect(f.pc, `#${i}`).toBe(oracle[i].pc);
          if (f.module !== '[anon]') expect(f.symbol, `#${i}`).toBe(oracle[i].name);
        });
      }
      assertDetached(t.pid);
    } finally {
      await t.stop();
      fs.rmSync(`/tmp/perf-${t.pid}.map`, { force: true });
    }
  });

  const python = findPerfPython();
  const noPython = 'missing' in python ? python.missing : undefined;
  const pythonTitle =
    'missing' in python ? `python -X perf — skipped: ${python.missing}` : `python ${python.version} -X perf`;

  it.skipIf(noPython !== undefined)(
    `${pythonTitle}: functions by name, in call order, the stack complete`,
    async () => {
      const { exe } = python as { exe: string };
      const script = path.join(dir, 'chain.py');
      fs.writeFileSync(
        script,
        [
          'def spin():',
          '    while True:',
          '        pass',
          'def inner():',
          '    spin()',
          'def middle():',
          '    inner()',
          'def outer():',
          '    middle()',
          "print('ready', flush=True)",
          'outer()',
          '',
        ].join('\n'),
      );
      const t = await startTarget(exe, ['-X', 'perf', script]);
      try {
        // Python writes `py::<qualified name>:<file>` for each function as it first runs it.
        const pyFunction = (f: Frame): string | undefined =>
          f.symbol?.startsWith('py::') ? f.symbol.slice(4, f.symbol.lastIndexOf(`:${script}`)) : undefined;
        const main = await mainThreadWhen(t.pid, (frames) => frames.slice(0, 3).some((f) => pyFunction(f) === 'spin'));
        // Each Python call runs through its own trampoline, named in the map; the trampolines keep
        // no frame pointer and have no CFI: the walk must still get past each of them.
        const py = main.frames.filter((f) => pyFunction(f) !== undefined);
        expect(py.map(pyFunction), listing(main)).toEqual([...CHAIN, '<module>']);
        expect(main.complete, listing(main)).toBe(true);
        const text = formatThreadText(main);
        for (const fn of CHAIN)
          expect(text).toMatch(new RegExp(`  ${fn}\\+0x[0-9a-f]+  \\(Python, ${escapeRegExp(script)}\\)$`, 'm'));
        // eu-stack ends at the first trampoline; up to there, the same frames and native names.
        if (HAVE_EU_STACK) {
          const oracle = euStack(t.pid).get(t.pid)!;
          // eu-stack sees native frames only: the Python frames read from the interpreter are not its.
          const ours = snapshotSync(t.pid)
            .threads.find((x) => x.tid === t.pid)!
            .frames.filter((f) => f.kind !== 'python');
          expect(oracle.length).toBeGreaterThan(1);
          for (let i = 1; i < oracle.length; i++) {
            expect(ours[i].pc, `#${i}`).toBe(oracle[i].pc);
            if (ours[i].module !== '[anon]') expect(ours[i].symbol, `#${i}`).toBe(oracle[i].name);
          }
        }
        assertDetached(t.pid);
      } finally {
        await t.stop();
        fs.rmSync(`/tmp/perf-${t.pid}.map`, { force: true });
      }
    },
  );

  // The same walk where no Python 3.12 is installed (CI): a C program calling through Python's
  // trampoline bytes, named in its own perf map as Python names them.
  it.skipIf(process.arch !== 'x64')(
    'a Python-style perf trampoline (no CFI, no frame record): named, and walked past to _start',
    async () => {
      const binary = path.join(dir, 'perf_trampoline');
      run('gcc', [...CFLAGS, '-o', binary, path.join(FIXTURES_DIR, 'perf_trampoline.c')]);
      const t = await startTarget(binary, [], { mainBlocked: true });
      try {
        const main = snapshotSync(t.pid).threads[0];
        const names = main.frames.map((f) => f.symbol);
        const tramp = names.indexOf('py::trampolined:/stand-in/for.py');
        expect(tramp, listing(main)).toBeGreaterThan(0);
        expect(main.frames[tramp].module).toBe('[anon]');
        expect(names[tramp - 1]).toBe('trampolined_eval');
        expect(names.slice(tramp + 1, tramp + 3), listing(main)).toEqual(['call_through_trampoline', 'main']);
        expect(main.complete, listing(main)).toBe(true);
        // A frame-pointer-only walk (`unwind: 'fp'`, what perf --call-graph fp sees) does not read
        // return sites: it cannot get from the trampoline to its caller.
        const fpOnly = snapshotSync(t.pid, { unwind: 'fp' }).threads[0];
        expect(fpOnly.complete, listing(fpOnly)).toBe(false);
        expect(
          fpOnly.frames.map((f) => f.symbol),
          listing(fpOnly),
        ).not.toContain('call_through_trampoline');
        // eu-stack stops at the trampoline; up to there, its frames are ours.
        if (HAVE_EU_STACK) {
          const oracle = euStack(t.pid).get(t.pid)!;
          expect(oracle.length).toBe(tramp + 1);
          expect(main.frames.slice(0, tramp + 1).map((f) => f.pc)).toEqual(oracle.map((f) => f.pc));
          expect(names.slice(0, tramp)).toEqual(oracle.slice(0, tramp).map((f) => f.name));
        }
        assertDetached(t.pid);
      } finally {
        await t.stop();
        fs.rmSync(`/tmp/perf-${t.pid}.map`, { force: true });
      }
    },
  );
});
