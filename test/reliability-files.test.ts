// Files the target controls: its perf map, the debug files its binaries name, the
// libraries it maps. Each hostile case is built here and run against a live target:
//   - a FIFO as perf map, as .gnu_debuglink target, as build-id debug file: no hang, a reason;
//   - a perf map symlinked to a root-only file: its content never printed (we run as root);
//   - an absolute symlink in a chrooted target: resolved inside the target's root, not ours;
//   - huge and growing perf maps: bounded memory, only appended bytes read;
//   - libraries dlopen'ed and dlclose'd continuously: no frame named from another library.
// Scale: STACKSHOT_RELIABILITY_FULL=1 runs the full sizes (5 M-line map, 5,000 churn
// snapshots) and checks the timings.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { snapshot, snapshotSync, type Snapshot } from '../src/index';
import { Symbolizer } from '../src/symbolize/symbolizer';
import { PerfMap, PerfMapCache } from '../src/symbolize/perf-map';
import { buildCached, compileFixture } from './helpers/fixtures';
import { emptyPerfMapPath } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';

const FULL = process.env.STACKSHOT_RELIABILITY_FULL === '1';
const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'cli.js');
const IS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-files-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  await stopAllTargets();
});

/** An anonymous executable mapping, as a JIT's code looks in maps, and a pc inside it. */
const JIT_MAPS = '7f0000000000-7f0000100000 r-xp 00000000 00:00 0 \n';
const JIT_PC = 0x7f0000000010n;

/** The name (or why none) the symbolizer gives the JIT pc of `pid` from its perf map. */
function jitName(pid: number): { symbol: string | null; reason?: string; detail?: string } {
  const [n] = new Symbolizer().symbolize(pid, JIT_MAPS, [{ pc: JIT_PC, isReturnAddress: false }]);
  return { symbol: n.symbol, reason: n.reason, detail: n.detail };
}

/** A process that prints ready and waits, optionally as `uid`, optionally chrooted. */
function startWaiter(opts: { uid?: number; chroot?: string; binary?: string } = {}) {
  const sleeper = opts.binary ?? staticWaiter();
  if (opts.chroot !== undefined) return startTarget('chroot', [opts.chroot, '/waiter']);
  if (opts.uid !== undefined)
    return startTarget('setpriv', [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', sleeper]);
  return startTarget(sleeper);
}

/** A static, stripped binary with a build-id that prints ready and waits (runs in any root). */
function staticWaiter(): string {
  const src =
    'int puts(const char*);int fflush(void*);int pause(void);\nint main(void){puts("ready");fflush(0);for(;;)pause();}\n';
  return buildCached('waiter', ['static-waiter-v1', src], (tmp) => {
    fs.writeFileSync(`${tmp}.c`, src);
    execFileSync('gcc', ['-static', '-O1', '-Wl,--build-id', '-s', '-o', tmp, `${tmp}.c`]);
    fs.rmSync(`${tmp}.c`);
  });
}

/** Runs the CLI; a hang shows as a kill by the (generous) timeout, not as a slow pass. */
function cli(args: string[]): { status: number | null; signal: string | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000, maxBuffer: 64 << 20 });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('perf maps the target controls', () => {
  it('refuses a FIFO as perf map without blocking, and says so', async () => {
    const t = await startWaiter();
    const fifo = path.join(dir, 'perf.fifo');
    execFileSync('mkfifo', [fifo]);
    const map = emptyPerfMapPath(t.pid);
    fs.symlinkSync(fifo, map);
    try {
      expect(jitName(t.pid)).toEqual({
        symbol: null,
        reason: 'perf-map-refused',
        detail: expect.stringMatching(/perf map .* refused: not a regular file/),
      });
    } finally {
      fs.rmSync(map);
    }
    // The same file as a regular file names the frame: the check above is what refused it.
    fs.writeFileSync(map, '7f0000000000 100 jit_code\n');
    try {
      expect(jitName(t.pid).symbol).toBe('jit_code');
    } finally {
      fs.rmSync(map);
    }
  });

  // node never removes its map: /tmp/perf-<pid>.map may be an earlier process's with the pid.
  it('refuses a map last written before the process started, and says so', async () => {
    const t = await startWaiter();
    const map = emptyPerfMapPath(t.pid);
    fs.writeFileSync(map, '7f0000000000 100 earlier_process_code\n');
    try {
      const hourAgo = new Date(Date.now() - 3_600_000);
      fs.utimesSync(map, hourAgo, hourAgo);
      expect(jitName(t.pid)).toEqual({
        symbol: null,
        reason: 'perf-map-refused',
        detail: expect.stringMatching(/perf map .* refused: last written before the process started/),
      });
      // Written since the process started (node truncates it when it starts writing): its own.
      fs.writeFileSync(map, '7f0000000000 100 jit_code\n');
      expect(jitName(t.pid).symbol).toBe('jit_code');
    } finally {
      fs.rmSync(map);
    }
  });

  it.skipIf(!IS_ROOT)(
    'never reads, as root, a file the target user could not read (symlink to a root-only file)',
    async () => {
      const t = await startWaiter({ uid: NOBODY });
      fs.chmodSync(dir, 0o711); // our temp dir: searchable, as /root would not be
      const secretDir = fs.mkdtempSync(path.join(dir, 'root-only-'));
      fs.chmodSync(secretDir, 0o755);
      const secret = path.join(secretDir, 'secret.map');
      fs.writeFileSync(secret, '0 7fffffffffff TOP-SECRET-ROOT-ONLY-CONTENT\n', { mode: 0o600 });
      const map = emptyPerfMapPath(t.pid);
      fs.symlinkSync(secret, map);
      fs.lchownSync(map, NOBODY, NOBODY);
      try {
        const named = jitName(t.pid);
        expect(JSON.stringify(named)).not.toMatch(/TOP-SECRET/);
        expect(named.reason).toBe('perf-map-refused');
        expect(named.detail).toMatch(/not readable by the target's user \(uid 65534\)/);
        // Readable but in a directory the user cannot search: refused too.
        fs.chmodSync(secret, 0o644);
        fs.chmodSync(secretDir, 0o700);
        expect(jitName(t.pid)).toEqual({
          symbol: null,
          reason: 'perf-map-refused',
          detail: expect.stringMatching(/not accessible to the target's user \(uid 65534\)/),
        });
        // Control: once the user could read it, it is read.
        fs.chmodSync(secretDir, 0o755);
        expect(jitName(t.pid).symbol).toBe('TOP-SECRET-ROOT-ONLY-CONTENT');
      } finally {
        fs.rmSync(map);
      }
    },
  );

  it.skipIf(!IS_ROOT)("resolves an absolute symlink inside a chrooted target's root, not on the host", async () => {
    const root = fs.mkdtempSync(path.join(dir, 'chroot-'));
    fs.mkdirSync(path.join(root, 'tmp'));
    fs.copyFileSync(staticWaiter(), path.join(root, 'waiter'));
    fs.chmodSync(path.join(root, 'waiter'), 0o755);
    const name = `hostonly-${path.basename(root)}.map`;
    fs.writeFileSync(path.join(root, name), '7f0000000000 100 inside_the_root\n');
    fs.writeFileSync(`/${name}`, '7f0000000000 100 HOST-FILE-OUTSIDE-THE-ROOT\n');
    try {
      const t = await startWaiter({ chroot: root });
      fs.symlinkSync(`/${name}`, path.join(root, 'tmp', `perf-${t.pid}.map`));
      expect(jitName(t.pid).symbol).toBe('inside_the_root');
      // `..` stops at the root as well.
      fs.rmSync(path.join(root, 'tmp', `perf-${t.pid}.map`));
      fs.symlinkSync(`../../../../../../${name}`, path.join(root, 'tmp', `perf-${t.pid}.map`));
      expect(jitName(t.pid).symbol).toBe('inside_the_root');
    } finally {
      fs.rmSync(`/${name}`);
    }
  });

  /** Peak RSS (MiB), time, and what a child process finds in the perf map `file`. */
  function parseInChild(file: string): { rssMiB: number; ms: number; entries: number; first?: string; last?: string } {
    const script = `
      const { PerfMapCache } = require(${JSON.stringify(path.join(ROOT, 'dist', 'symbolize', 'perf-map.js'))});
      const fs = require('fs');
      const pid = ${process.pid};
      const c = new PerfMapCache();
      const t0 = process.hrtime.bigint();
      const m = c.read(pid, ${JSON.stringify(file)}, { root: '', creds: null });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const at = (a) => m && m.lookup(a) ? m.lookup(a).name : undefined;
      console.log(JSON.stringify({ rssMiB: process.resourceUsage().maxRSS / 1024, ms, entries: m ? m.entryCount : -1,
        first: at(0x100000000005n), last: at(0x100000001005n) }));`;
    return JSON.parse(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })) as ReturnType<
      typeof parseInChild
    >;
  }

  it('takes a line only when both numbers are hex below 2^53 and the size is not 0', () => {
    const map = PerfMap.parse(
      [
        '0x1000 0X10 prefixed', // 0x prefixes
        '2000 10 crlf\r', // CRLF files: the \r is not part of the name
        '3000 10 two  spaces', // the name is everything after the second space
        '20000000000000 10 too_high', // 2^53
        '1fffffffffffff 1 ends_past_2^53',
        '00000000000004000 10 seventeen_digits',
        '5000 -10 negative',
        '6000 0 empty',
        '7000 1g bad_size',
        ' 8000 10 leading_space',
        '9000 10', // no name field
        '', // a blank line
        'a000 10 last_without_newline',
      ].join('\n'),
    );
    const at = (a: number) => map.lookup(BigInt(a))?.name;
    expect([0x1000, 0x2000, 0x3000, 0xa000].map(at)).toEqual([
      'prefixed',
      'crlf',
      'two  spaces',
      'last_without_newline',
    ]);
    expect(at(0x2000)).toBe('crlf');
    for (const a of [0x20000000000000, 0x1fffffffffffff, 0x4000, 0x5000, 0x6000, 0x7000, 0x8000, 0x9000])
      expect(at(a), a.toString(16)).toBeUndefined();
    expect(map.entryCount).toBe(4);
  });

  it('cuts long names, skips over-long lines, and reads whole lines of the newest 32 MiB', () => {
    const file = path.join(dir, 'limits.map');
    fs.writeFileSync(
      file,
      `100000000000 10 ${'n'.repeat(5000)}\n100000000010 10 ${'x'.repeat(9000)}\n100000000020 10 after\n`,
    );
    const cache = new PerfMapCache();
    const where = { root: '', creds: null };
    const map = cache.read(1, file, where)!;
    expect(map.lookup(0x100000000000n)?.name).toBe(`${'n'.repeat(1024)}…`);
    expect(map.lookup(0x100000000010n)).toBeUndefined();
    expect(map.lookup(0x100000000020n)?.name).toBe('after');
    // 64-byte lines, 10 more than the window holds: the window starts exactly at a line.
    const line = (i: number) => `${(0x100000000000 + i * 16).toString(16)} 10 ${String(i).padStart(47, '0')}\n`;
    expect(line(0).length).toBe(64);
    const inWindow = (32 << 20) / 64;
    const lines = Array.from({ length: inWindow + 10 }, (_, i) => line(i));
    fs.writeFileSync(file, lines.join(''));
    const windowed = new PerfMapCache().read(1, file, where)!;
    fs.rmSync(file);
    expect(windowed.entryCount).toBe(inWindow);
    expect(windowed.lookup(BigInt(0x100000000000 + 10 * 16))?.name).toBe(String(10).padStart(47, '0'));
    expect(windowed.lookup(BigInt(0x100000000000 + 9 * 16))).toBeUndefined();
    // An unparseable 1 GB file (sparse: zeros, no newline): its window read once, then cached.
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 1 << 30);
    const once = new PerfMapCache();
    expect(once.read(1, file, where)!.entryCount).toBe(0);
    expect(once.bytesRead).toBeLessThanOrEqual((32 << 20) + 1);
    once.read(1, file, where);
    expect(once.bytesRead).toBeLessThanOrEqual((32 << 20) + 1);
    fs.rmSync(file);
  });

  it('a 200 MB line is skipped, not printed as a name, within the memory budget', () => {
    const file = path.join(dir, 'long-line.map');
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, '100000000000 10 first\n100000000100 10 ');
    const mib = Buffer.alloc(1 << 20, 0x41);
    for (let i = 0; i < 200; i++) fs.writeSync(fd, mib);
    fs.writeSync(fd, '\n100000001000 10 last\n');
    fs.closeSync(fd);
    const r = parseInChild(file);
    fs.rmSync(file);
    expect(r).toMatchObject({ entries: 1, last: 'last' }); // the window (newest 32 MiB) starts inside the long line
    expect(r.rssMiB).toBeLessThan(300);
    if (FULL) expect(r.ms).toBeLessThan(3000);
    console.log(`200 MB line: ${r.ms.toFixed(0)} ms, peak RSS ${r.rssMiB.toFixed(0)} MiB`);
  });

  it(`a ${FULL ? '5 M' : '1 M'}-line map parses within the memory budget; the newest lines win`, () => {
    const lines = FULL ? 5_000_000 : 1_000_000;
    const file = path.join(dir, 'many-lines.map');
    const fd = fs.openSync(file, 'w');
    let batch: string[] = [];
    for (let i = 0; i < lines; i++) {
      // Every line maps the same 16-page block again: the last one must win.
      batch.push(`${(0x100000000000 + (i % 4096) * 0x10).toString(16)} 10 JS:*fn_${i} /app/x.js:${i}:1\n`);
      if (batch.length === 100_000) {
        fs.writeSync(fd, batch.join(''));
        batch = [];
      }
    }
    fs.writeSync(fd, batch.join(''));
    fs.closeSync(fd);
    const r = parseInChild(file);
    fs.rmSync(file);
    const newest = (slot: number) => lines - 1 - ((lines - 1 - slot) % 4096); // the last line of the slot
    expect(r.first).toBe(`JS:*fn_${newest(0)} /app/x.js:${newest(0)}:1`);
    expect(r.last).toBe(`JS:*fn_${newest(0x100)} /app/x.js:${newest(0x100)}:1`);
    expect(r.rssMiB).toBeLessThan(300);
    if (FULL) expect(r.ms).toBeLessThan(3000);
    console.log(
      `${lines} lines: ${r.ms.toFixed(0)} ms, peak RSS ${r.rssMiB.toFixed(0)} MiB, ${r.entries} entries kept`,
    );
  }, 300_000);

  it('reads only the appended bytes of a growing map; newest entry wins; a replaced map is re-read', async () => {
    const t = await startWaiter();
    const file = emptyPerfMapPath(t.pid);
    const base = FULL ? 500_000 : 50_000;
    const batch: string[] = [];
    for (let i = 0; i < base; i++) batch.push(`${(0x7f0000000000 + i * 0x40).toString(16)} 40 fn_${i}\n`);
    fs.writeFileSync(file, batch.join(''));
    try {
      const cache = new PerfMapCache();
      expect(cache.get(t.pid)!.entryCount).toBe(base);
      const costs: number[] = [];
      const rounds = 200;
      for (let i = 0; i < rounds; i++) {
        const addr = 0x7f0000000000 + ((i * 7919) % base) * 0x40;
        const line = `${addr.toString(16)} 40 new_${i}\n`;
        fs.appendFileSync(file, line);
        const before = cache.bytesRead;
        const t0 = process.hrtime.bigint();
        const map = cache.get(t.pid)!;
        const hit = map.lookup(BigInt(addr + 1));
        costs.push(Number(process.hrtime.bigint() - t0) / 1e6);
        expect(hit?.name).toBe(`new_${i}`);
        expect(cache.bytesRead - before).toBe(line.length);
      }
      expect(cache.get(t.pid)!.entryCount).toBe(base + rounds);
      costs.sort((x, y) => x - y);
      const median = costs[rounds >> 1];
      const mean = costs.reduce((x, y) => x + y, 0) / rounds;
      console.log(
        `${base}-line map growing by a line: median ${median.toFixed(2)}, mean ${mean.toFixed(2)}, worst ${costs[rounds - 1].toFixed(2)} ms per get+lookup`,
      );
      // The median: a GC pause of the test process may land in any one round.
      if (FULL) expect(median).toBeLessThan(5);
      // Replaced by a shorter file (another inode): read anew.
      fs.rmSync(file);
      fs.writeFileSync(file, '7f0000000000 40 replaced\n');
      expect(cache.get(t.pid)!.lookup(0x7f0000000001n)?.name).toBe('replaced');
      expect(cache.get(t.pid)!.entryCount).toBe(1);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });
});

/** The symbolReasons and their details of the frames in `module`, joined. */
function reasonsIn(snap: Snapshot, module: string): string {
  return snap.threads
    .flatMap((t) =>
      t.frames.filter((f) => f.module === module).map((f) => `${f.symbolReason ?? ''}: ${f.symbolDetail ?? ''}`),
    )
    .join('\n');
}

describe('debug files the target names', () => {
  it('a .gnu_debuglink naming a FIFO: the snapshot finishes, also with --no-symbolize --unwind fp', async () => {
    const bin = path.join(dir, 'linked');
    fs.copyFileSync(compileFixture('idle', 'nofp'), bin);
    execFileSync('objcopy', ['--only-keep-debug', bin, `${bin}.debug`]);
    execFileSync('objcopy', [
      '--strip-all',
      '--remove-section=.note.gnu.build-id',
      `--add-gnu-debuglink=${bin}.debug`,
      bin,
    ]);
    fs.rmSync(`${bin}.debug`);
    execFileSync('mkfifo', [`${bin}.debug`]);
    fs.chmodSync(bin, 0o755);
    const t = await startTarget(bin, [], { mainBlocked: true });
    for (const args of [['--json'], ['--json', '--no-symbolize'], ['--json', '--no-symbolize', '--unwind', 'fp']]) {
      const r = cli([String(t.pid), ...args]);
      expect(r.signal, `${args.join(' ')}: ${r.stderr}`).toBeNull();
      expect(r.status, r.stderr).toBe(0);
      const snap = JSON.parse(r.stdout) as Snapshot;
      expect(snap.threads.length).toBeGreaterThan(0);
      // Named: the frames in the binary say why they have no name.
      if (!args.includes('--no-symbolize'))
        expect(reasonsIn(snap, bin)).toContain(`debug file ${bin}.debug refused: not a regular file`);
    }
  });

  it.skipIf(!IS_ROOT)("a build-id debug file that is a FIFO under the target's own root: finishes", async () => {
    const root = fs.mkdtempSync(path.join(dir, 'chroot-'));
    fs.copyFileSync(staticWaiter(), path.join(root, 'waiter'));
    fs.chmodSync(path.join(root, 'waiter'), 0o755);
    const id = /Build ID: ([0-9a-f]+)/.exec(execFileSync('readelf', ['-n', staticWaiter()], { encoding: 'utf8' }))![1];
    const debugDir = path.join(root, 'usr/lib/debug/.build-id', id.slice(0, 2));
    fs.mkdirSync(debugDir, { recursive: true });
    execFileSync('mkfifo', [path.join(debugDir, `${id.slice(2)}.debug`)]);
    const t = await startWaiter({ chroot: root });
    const r = cli([String(t.pid), '--json', '--no-symbolize', '--unwind', 'fp']);
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const named = cli([String(t.pid), '--json']);
    expect(named.signal, named.stderr).toBeNull();
    expect(named.status, named.stderr).toBe(0);
    // maps shows a chrooted process's files by our path.
    expect(reasonsIn(JSON.parse(named.stdout) as Snapshot, path.join(root, 'waiter'))).toMatch(
      /debug file \/proc\/\d+\/root\/usr\/lib\/debug\/\.build-id\/.* refused: not a regular file/,
    );
  });
});

describe('names from the file that was mapped', () => {
  const LIBS = 8;

  /** lib0.so … lib7.so: the same code under different names (lib<k>_f0 → f1 → f2 → hold). */
  function buildLibs(into: string): void {
    for (let k = 0; k < LIBS; k++) {
      const src = [0, 1, 2]
        .map(
          (j) =>
            `__attribute__((noinline)) void lib${k}_f${j}(void (*h)(void)) { ${j < 2 ? `lib${k}_f${j + 1}(h)` : 'h()'}; __asm__ volatile(""); }`,
        )
        .reverse()
        .join('\n');
      fs.writeFileSync(path.join(into, `lib${k}.c`), src + '\n');
      execFileSync('gcc', [
        '-O1',
        '-g',
        '-fno-omit-frame-pointer',
        '-shared',
        '-fPIC',
        '-o',
        path.join(into, `lib${k}.so`),
        path.join(into, `lib${k}.c`),
      ]);
    }
  }

  it(
    `libraries dlopen'ed and dlclose'd continuously: 0 frames named from another library over ${FULL ? 5000 : 60} snapshots`,
    async () => {
      const libs = fs.mkdtempSync(path.join(dir, 'libs-'));
      buildLibs(libs);
      const t = await startTarget(compileFixture('rel_dlchurn', 'fp'), [libs, String(LIBS), '4']);
      const snapshots = FULL ? 5000 : 60;
      let libraryFrames = 0;
      let unnamed = 0;
      const reasons = new Set<string>();
      const wrong: string[] = [];
      for (let i = 0; i < snapshots; i++) {
        const snap = i % 2 === 0 ? snapshotSync(t.pid) : await snapshot(t.pid);
        for (const th of snap.threads) {
          for (const f of th.frames) {
            const inLib = /\/lib(\d+)\.so$/.exec(f.module ?? '');
            if (inLib === null) continue;
            libraryFrames++;
            const named = /^lib(\d+)_f\d$/.exec(f.symbol ?? '');
            if (named === null) {
              unnamed++;
              reasons.add(f.symbol === null ? (f.symbolReason ?? 'no reason') : `named ${f.symbol}`);
            } else if (named[1] !== inLib[1]) wrong.push(`${f.symbol} in ${f.module}`);
          }
        }
      }
      console.log(
        `dlopen churn: ${libraryFrames} library frames, ${unnamed} unnamed (${[...reasons].join('; ')}), ${wrong.length} wrong`,
      );
      expect(libraryFrames).toBeGreaterThan(0);
      expect(wrong).toEqual([]);
      expect([...reasons].filter((r) => r === 'no reason')).toEqual([]); // a frame without a name says why
    },
    FULL ? 1_800_000 : 120_000,
  );
});
