// Captures that know their files: --save records each module's build-id and size, `unwind`
// refuses (naming it) a module that changed since, and --embed-modules carries what unwinding
// and naming need so the capture unwinds after its files are gone. The target is symdiff with
// its dlopen'ed library built into a directory of this test, so the library can be rebuilt.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { captureToFile, readCaptureFile, snapshotFromFile, type SavedCapture } from '../src/capture-file';
import { checkModules } from '../src/capture/check-modules';
import type { StackshotError } from '../src/errors';
import { binding } from '../src/addon';
import { imagePltStubs } from '../src/capture/module-image';
import { BufferSource, ElfFile } from '../src/elf/elf-file';
import { pltStubs } from '../src/elf/plt';
import { loadElfModule, releaseModule } from '../src/symbolize/module-cache';
import { unwindSections } from '../src/unwind/unwind-table';
import type { Arch, Snapshot } from '../src/types';
import { buildCached, FIXTURES_DIR } from './helpers/fixtures';
import { startTarget, stopAllTargets } from './helpers/target';

const CFLAGS = ['-O1', '-g', '-pthread', '-fno-optimize-sibling-calls'];
const LIB_SOURCE = path.join(FIXTURES_DIR, 'symdiff_lib.c');

let dir = '';
let lib = '';
let plain = ''; // saved without modules
let embedded = ''; // saved with --embed-modules
let live: Snapshot;
let liveEmbedded: Snapshot;

const cli = (args: string[]) =>
  spawnSync(process.execPath, [path.join(__dirname, '..', 'dist', 'cli.js'), ...args], { encoding: 'utf8' });

function buildLibrary(out: string, extra: string[] = []): void {
  execFileSync('gcc', [...CFLAGS, ...extra, '-shared', '-fPIC', '-o', out, LIB_SOURCE], { stdio: 'pipe' });
}

/** What a frame is, offline as live: every field naming and unwinding decide. */
const frames = (s: Snapshot) =>
  s.threads.map((t) => ({
    tid: t.tid,
    end: t.end,
    complete: t.complete,
    frames: t.frames.map((f) => [f.pc, f.method, f.module, f.moduleOffset, f.symbol, f.symbolOffset]),
  }));

function saved(file: string): SavedCapture {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as SavedCapture;
}

function writeCapture(name: string, edit: (c: SavedCapture) => void, from = plain): string {
  const c = saved(from);
  edit(c);
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(c));
  return file;
}

function errorOf(f: () => unknown): StackshotError {
  try {
    f();
  } catch (e) {
    return e as StackshotError;
  }
  throw new Error('did not throw');
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-capmod-'));
  const source = path.join(FIXTURES_DIR, 'symdiff.c');
  const exe = buildCached('symdiff', [fs.readFileSync(source), ...CFLAGS, 'pie'], (tmp) =>
    execFileSync('gcc', [...CFLAGS, '-fPIE', '-pie', '-o', tmp, source], { stdio: 'pipe' }),
  );
  lib = path.join(dir, 'libsymdiff.so');
  buildLibrary(lib);
  const target = await startTarget(exe, [lib]);
  plain = path.join(dir, 'plain.json');
  embedded = path.join(dir, 'embedded.json');
  live = await captureToFile(target.pid, plain);
  liveEmbedded = await captureToFile(target.pid, embedded, undefined, { embedModules: true });
  await target.stop();
}, 120_000);

afterAll(async () => {
  await stopAllTargets();
  if (dir !== '') fs.rmSync(dir, { recursive: true, force: true });
});

describe('module identities', () => {
  it('records the build-id and size of every executable module, and the library frames are named', () => {
    const c = saved(plain);
    expect(c.version).toBe(2);
    const rec = c.modules?.find((m) => m.path === lib);
    expect(rec?.size).toBe(fs.statSync(lib).size);
    const readelf = execFileSync('readelf', ['-n', lib], { encoding: 'utf8' });
    expect(rec?.buildId).toBe(/Build ID: ([0-9a-f]+)/.exec(readelf)?.[1]);
    expect(c.modules?.every((m) => m.image === undefined)).toBe(true);
    const sleeper = live.threads.find((t) => t.name === 'sleeper');
    expect(sleeper?.frames.map((f) => f.symbol)).toContain('dl_sleep_static');
    // Unchanged files: offline equals live (as before there were records).
    expect(frames(snapshotFromFile(plain)).find((t) => t.tid === sleeper?.tid)).toEqual(
      frames(live).find((t) => t.tid === sleeper?.tid),
    );
  });

  it('a library rebuilt in place (same inode): `unwind` names it and exits 1', () => {
    const inode = fs.statSync(lib).ino;
    const rebuilt = path.join(dir, 'rebuilt.so');
    buildLibrary(rebuilt, ['-O0', '-DREBUILT']);
    fs.writeFileSync(lib, fs.readFileSync(rebuilt)); // in place: only the build-id can tell
    expect(fs.statSync(lib).ino).toBe(inode);

    const r = cli(['unwind', plain]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const esc = lib.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(r.stderr).toMatch(
      new RegExp(
        `^stackshot: .*plain\\.json: a module changed since the capture: ${esc} \\(build-id [0-9a-f]{16}… is now [0-9a-f]{16}…\\) \\[ESTALE\\]\n` +
          'hint: unwind where those files are as captured, save with --embed-modules, or pass --allow-changed-modules to leave their frames unnamed\n$',
      ),
    );
    const err = errorOf(() => snapshotFromFile(plain));
    expect([err.code, err.reason]).toEqual(['ESTALE', 'modules-changed']);
  });

  it('--allow-changed-modules: unwinds, the changed module frames unnamed with the reason', () => {
    const r = cli(['unwind', plain, '--allow-changed-modules', '--json']);
    expect(r.status, r.stderr).toBe(0);
    const inLib = (JSON.parse(r.stdout) as Snapshot).threads.flatMap((t) => t.frames).filter((f) => f.module === lib);
    expect(inLib.length).toBeGreaterThan(0);
    for (const f of inLib) {
      expect(f.symbol).toBeNull();
      expect(f.symbolReason).toBe('module-changed');
      expect(f.symbolDetail).toMatch(/^changed since the capture: build-id /);
    }
  });

  it('a capture whose maps point at another file is refused: that file was never recorded', () => {
    const libm = '/usr/lib/x86_64-linux-gnu/libc.so.6';
    const file = writeCapture('other.json', (c) => (c.maps = c.maps.split(lib).join(`${libm}.other`)));
    const err = errorOf(() => snapshotFromFile(file));
    expect(err.code).toBe('ESTALE');
    expect(err.message).toContain(`${libm}.other (not recorded in the capture)`);
    // Its record edited too: the file found there is not the one recorded.
    const both = writeCapture('other-record.json', (c) => {
      c.maps = c.maps.split(lib).join(libm);
      for (const m of c.modules ?? []) if (m.path === lib) m.path = libm;
    });
    expect(errorOf(() => snapshotFromFile(both)).message).toMatch(
      new RegExp(`: a module changed since the capture: ${libm} \\(build-id [0-9a-f]{16}… is now [0-9a-f]{16}…\\)$`),
    );
  });

  it('a module without a build-id is identified by its SHA-256', () => {
    const c = saved(plain);
    const exe = c.modules!.find((m) => m.path.endsWith('/symdiff'))!;
    const withHash = (sha256: string) =>
      writeCapture('sha.json', (x) => {
        const m = x.modules!.find((r) => r.path === exe.path)!;
        delete m.buildId;
        m.sha256 = sha256;
      });
    const real = createHash('sha256').update(fs.readFileSync(exe.path)).digest('hex');
    const key = `${exe.dev} ${exe.inode} ${exe.path}`;
    expect(checkModules(readCaptureFile(withHash(real))).get(key)?.changed).toBeUndefined();
    expect(checkModules(readCaptureFile(withHash('00'.repeat(32)))).get(key)?.changed).toBe(
      'its contents changed (SHA-256)',
    );
  });

  it('a version 1 capture (no records) is still read, its files used as found', () => {
    const file = writeCapture('v1.json', (c) => {
      c.version = 1;
      delete c.modules;
    });
    const main = snapshotFromFile(file).threads.find((t) => t.tid === live.pid);
    expect(main?.frames.map((f) => f.symbol)).toEqual(
      live.threads.find((t) => t.tid === live.pid)?.frames.map((f) => f.symbol),
    );
  });
});

describe('--embed-modules', () => {
  it('without --save: a usage error, exit 2', () => {
    const r = cli(['1', '--embed-modules']);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe("stackshot: option '--embed-modules' needs '--save <file>'\nhint: see `stackshot --help`\n");
  });

  it('unwinds and names as live after the library is rebuilt, then deleted', () => {
    const c = saved(embedded);
    expect(c.modules?.find((m) => m.path === lib)?.image).toBeDefined();
    expect(c.modules?.find((m) => m.path === '[vdso]')?.image).toBeDefined();
    expect(fs.statSync(embedded).size).toBeLessThan(8 << 20);
    // The library was rebuilt by the test above; the vdso frames are named only from the image.
    expect(frames(snapshotFromFile(embedded))).toEqual(frames(liveEmbedded));
    fs.rmSync(lib);
    expect(frames(snapshotFromFile(embedded))).toEqual(frames(liveEmbedded));
    const sleeper = liveEmbedded.threads.find((t) => t.name === 'sleeper');
    expect(sleeper?.complete).toBe(true);
    expect(sleeper?.frames.map((f) => f.symbol)).toContain('dl_sleep_static');
  });

  it("a module's image holds what its file gives: segments, entry, unwind sections, symbols, PLT stubs", () => {
    const c = saved(embedded);
    const exe = c.modules!.find((m) => m.path.endsWith('/symdiff'))!;
    const file = new ElfFile(new BufferSource(fs.readFileSync(exe.path)));
    const image = new ElfFile(new BufferSource(Buffer.from(exe.image!, 'base64')));
    expect([image.machine, image.type, image.entry]).toEqual([file.machine, file.type, file.entry]);
    expect(image.loads).toEqual(file.loads);
    expect(unwindSections(image)).toEqual(unwindSections(file));
    expect(imagePltStubs(image)).toEqual(pltStubs(file));
    expect(pltStubs(file).map((s) => s.name)).toContain('pthread_create@plt');
    const names = (elf: ElfFile) => {
      const mod = loadElfModule(elf, exe.path, []);
      releaseModule(mod);
      const t = mod.symbols!;
      return Array.from({ length: t.length }, (_, i) => [t.start(i), t.symbolSize(i), t.name(i)]);
    };
    expect(names(image)).toEqual(names(file));
    expect(fs.statSync(exe.path).size).toBeGreaterThan(Buffer.from(exe.image!, 'base64').length);
  });

  it('a forged image is read like a hostile file: the frames say why, nothing crashes', () => {
    fs.rmSync(lib, { force: true }); // gone: the image is all there is
    const garbage = Buffer.alloc(4096, 0x41);
    garbage.writeUInt32BE(0x7f454c46, 0); // ELF magic, then nonsense
    garbage[4] = 2;
    garbage[5] = 1;
    const file = writeCapture(
      'forged.json',
      (c) => {
        for (const m of c.modules ?? []) if (m.path === lib) m.image = garbage.toString('base64');
      },
      embedded,
    );
    const inLib = snapshotFromFile(file)
      .threads.flatMap((t) => t.frames)
      .filter((f) => f.module === lib);
    expect(inLib.length).toBeGreaterThan(0);
    for (const f of inLib) {
      expect(f.symbolReason).toBe('module-invalid');
      expect(f.symbolDetail).toMatch(/^(embedded module: |ELF: )/);
    }
  });
});

describe('fields checked where the capture comes in', () => {
  const cases: [string, (c: SavedCapture) => void, RegExp][] = [
    [
      'an unknown arch',
      (c) => ((c as { arch: string }).arch = 'sparc'),
      /: arch: unknown architecture "sparc": this stackshot unwinds x64 and arm64 captures$/,
    ],
    ['a newer version', (c) => (c.version = 3), /: version: capture format version 3; this stackshot reads/],
    [
      'a thread status outside the set',
      (c) => ((c.threads[0] as { status: string }).status = 'running'),
      /: threads\[0\]\.status: "running" is not one of "captured", "exited", "timeout", "failed"$/,
    ],
    ['a register not in hex', (c) => (c.threads[0].pc = '12345'), /: threads\[0\]\.pc: not a 64-bit hex number/],
    ['a stack not in base64', (c) => (c.threads[0].stack = 'not base64!'), /: threads\[0\]\.stack: not base64$/],
    [
      'too many registers',
      (c) => (c.threads[0].regs = Array<string>(65).fill('0x0')),
      /: threads\[0\]\.regs: more than 64 entries$/,
    ],
    ['a negative pid', (c) => (c.pid = -1), /: pid: not an integer from 1 to/],
    [
      'a module path that is not absolute',
      (c) => (c.modules![0].path = 'relative/lib.so'),
      /: modules\[0\]\.path: neither an absolute path nor "\[vdso\]"$/,
    ],
    ['maps not text', (c) => ((c as { maps: unknown }).maps = 42), /: maps: not a string$/],
  ];
  it.each(cases)('%s: refused, naming the field (EINVAL, bad-capture-file)', (_what, edit, message) => {
    const err = errorOf(() => snapshotFromFile(writeCapture('edited.json', edit)));
    expect([err.code, err.reason]).toEqual(['EINVAL', 'bad-capture-file']);
    expect(err.message).toMatch(message);
  });

  it('the CLI: an unknown arch is one line of error with a hint, exit 1', () => {
    const file = writeCapture('sparc.json', (c) => ((c as { arch: string }).arch = 'sparc'));
    const r = cli(['unwind', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `stackshot: ${file}: arch: unknown architecture "sparc": this stackshot unwinds x64 and arm64 captures [EINVAL]\n` +
        'hint: give a file written by `stackshot <pid> --save <file>`\n',
    );
  });

  it('the binding refuses an arch it does not know (it used to unwind it as x86-64)', () => {
    const arch = 'sparc' as Arch;
    const threads = [{ pc: 0x1000n, sp: 0x2000n, fp: 0n, lr: 0n, stack: Buffer.alloc(64) }];
    expect(() => binding.unwind({ arch, pid: 0, maxFrames: 8, mappings: new BigUint64Array(0), threads })).toThrow(
      /^arch must be 'x64' or 'arm64'$/,
    );
    expect(() => binding.loadCfi({ arch, ehFrame: Buffer.alloc(16) })).toThrow(/^arch must be 'x64' or 'arm64'$/);
  });

  it('300 captures with one value replaced: each unwinds or is refused with a stable reason', () => {
    // Every leaf of the file (numbers, strings, booleans, array items) is a place to put a
    // value of another type or range; nothing may escape as a TypeError, RangeError or crash.
    const base = saved(plain);
    const leaves: (string | number)[][] = [];
    const walk = (v: unknown, at: (string | number)[]) => {
      if (typeof v === 'object' && v !== null) {
        for (const [k, x] of Object.entries(v)) walk(x, [...at, Array.isArray(v) ? Number(k) : k]);
      } else leaves.push(at);
    };
    walk(base, []);
    const values: unknown[] = [null, -1, 0, 1.5, 2 ** 64, '', 'x', '0xffffffffffffffff', '////', true, [], {}];
    let seed = 12345;
    const next = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) >>> 0) % n;
    const reasons = new Map<string, number>();
    for (let i = 0; i < 300; i++) {
      const copy = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
      const at = leaves[next(leaves.length)];
      let o = copy as Record<string | number, unknown>;
      for (const k of at.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
      o[at[at.length - 1]] = values[next(values.length)];
      const file = path.join(dir, 'fuzzed.json');
      fs.writeFileSync(file, JSON.stringify(copy));
      let reason = 'unwound';
      try {
        snapshotFromFile(file, undefined, { allowChangedModules: true }); // the library was deleted above
      } catch (e) {
        reason = (e as StackshotError).reason ?? `${(e as Error).name}: ${(e as Error).message} at ${at.join('.')}`;
      }
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    expect([...reasons.keys()].filter((r) => !['unwound', 'bad-capture-file', 'modules-changed'].includes(r))).toEqual(
      [],
    );
    expect(reasons.get('bad-capture-file')).toBeGreaterThan(100);
    expect(reasons.get('unwound')).toBeGreaterThan(0); // values in range reach the unwinder
  });

  it('a FIFO is refused without blocking', () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const err = errorOf(() => snapshotFromFile(fifo));
    expect(err.message).toBe(`${fifo}: not a regular file`);
  });
});
