// The profile formats: folded, speedscope, pprof, SVG flame graph. First on hand-made snapshots
// (exact expectations), then on a real recording of the threads fixture (validated by the
// formats' own tools: speedscope's JSON schema with ajv, pprof-format's decoder, `go tool pprof`).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  formatFromPath,
  parseFolded,
  record,
  toFlameGraph,
  toFolded,
  toPprof,
  toSpeedscope,
  type Frame,
  type Snapshot,
  type ThreadStack,
} from '../src/index';
import { decodePprof } from '../src/output/pprof';
import { startFixture, stopAllTargets } from './helpers/target';
import { have } from './helpers/tools';

const ROOT = path.join(__dirname, '..');
const SCHEMA = JSON.parse(
  fs.readFileSync(path.join(ROOT, 'node_modules', 'speedscope', 'dist', 'release', 'file-format-schema.json'), 'utf8'),
);
const validateSpeedscope = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);
const HAVE_GO = have('go');

// ---------------------------------------------------------------------------------------------
// Hand-made snapshots

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const EXE = '/opt/app/bin/app';

/** A frame at pc in module (loaded so that file offset 0 is at base); symbol null = unknown. */
function frame(
  pc: bigint,
  symbol: string | null,
  module: string | null,
  base: bigint,
  method: Frame['method'] = 'fp',
  returnAddress = method !== 'regs',
): Frame {
  return {
    pc: `0x${pc.toString(16)}`,
    method,
    returnAddress,
    module,
    moduleOffset: module === null ? null : `0x${(pc - base).toString(16)}`,
    symbol,
    symbolOffset: symbol === null ? null : 4,
  };
}

const LIBC_BASE = 0x7f0000000000n;
const EXE_BASE = 0x555500000000n;

function thread(tid: number, name: string, state: string, frames: Frame[]): ThreadStack {
  return {
    tid,
    name,
    state,
    frames,
    end: 'thread-entry',
    complete: true,
    pauseNs: 1000,
    capture: 'ptrace',
    stackBytes: 4096,
  };
}

function shot(at: number, threads: ThreadStack[]): Snapshot {
  return {
    version: 1,
    pid: 100,
    command: 'app',
    schedule: 'rolling',
    takenAt: new Date(Date.UTC(2026, 0, 1, 0, 0, 0, at)).toISOString(),
    threads,
    cost: { totalNs: 0, pauseNsMax: 0, walkNs: 0, symbolizeNs: 0, modulesNs: 0, bytesCopied: 0 },
  };
}

/** main: _start → main → work;with;semicolons(\n) → leaf (innermost first below). */
function mainStack(leaf: string | null): Frame[] {
  return [
    frame(EXE_BASE + 0x1500n, leaf, leaf === null ? EXE : EXE, EXE_BASE, 'regs'),
    frame(EXE_BASE + 0x1234n, 'work;with;semicolons\nand a newline', EXE, EXE_BASE),
    frame(EXE_BASE + 0x1100n, 'main', EXE, EXE_BASE),
    frame(EXE_BASE + 0x1010n, '_start', EXE, EXE_BASE),
  ];
}

function workerStack(): Frame[] {
  return [
    frame(LIBC_BASE + 0x10e1c6n, 'epoll_wait', LIBC, LIBC_BASE, 'regs'),
    frame(0x12345678n, null, null, 0n), // in no mapping
    frame(LIBC_BASE + 0x8a000n, null, LIBC, LIBC_BASE), // no symbol
    frame(LIBC_BASE + 0x126a00n, 'std::vector<int> & "clone3"', LIBC, LIBC_BASE),
  ];
}

const SHOTS: Snapshot[] = [
  shot(0, [thread(100, 'app', 'R', mainStack('hot')), thread(101, 'io', 'S', workerStack())]),
  shot(10, [thread(100, 'app', 'R', mainStack('hot')), thread(101, 'io', 'S', workerStack())]),
  shot(20, [
    thread(100, 'app', 'S', mainStack('cold')),
    { ...thread(101, 'io', 'S', []), failure: 'exited', end: 'not-captured', complete: false },
  ]),
];

describe('folded', () => {
  it('root→leaf names joined by ";", a space and the count; names sanitized; unknown frames named', () => {
    const text = toFolded(SHOTS);
    expect(text).toBe(
      [
        '_start;main;work:with:semicolons and a newline;cold 1',
        '_start;main;work:with:semicolons and a newline;hot 2',
        'std::vector<int> & "clone3";libc.so.6+0x8a000;[unknown];epoll_wait 2',
        '',
      ].join('\n'),
    );
  });

  it('thread roots, state filters, a single snapshot', () => {
    expect(toFolded(SHOTS, { threadRoot: 'name' })).toContain(
      'app;_start;main;work:with:semicolons and a newline;hot 2\n',
    );
    expect(toFolded(SHOTS, { threadRoot: 'name-tid' })).toContain('io-101;std::vector<int>');
    expect(parseFolded(toFolded(SHOTS, { state: 'running' }))).toEqual([
      { frames: ['_start', 'main', 'work:with:semicolons and a newline', 'hot'], count: 2 },
    ]);
    const blocked = parseFolded(toFolded(SHOTS, { state: 'blocked' }));
    expect(blocked.map((l) => l.frames.at(-1)).sort()).toEqual(['cold', 'epoll_wait']);
    expect(parseFolded(toFolded(SHOTS[0]!)).reduce((a, l) => a + l.count, 0)).toBe(2);
    expect(toFolded([])).toBe('');
  });
});

describe('speedscope', () => {
  it('validates against the file-format schema: one sampled profile per thread, shared frames', () => {
    const file = toSpeedscope(SHOTS, { intervalMs: 10 });
    expect(validateSpeedscope(file), JSON.stringify(validateSpeedscope.errors)).toBe(true);
    expect(file.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    expect(file.profiles.map((p) => p.name)).toEqual(['app (100)', 'io (101)']);
    const app = file.profiles[0]!;
    expect(app.samples).toHaveLength(3);
    expect(app.weights).toEqual([10, 10, 10]);
    expect(app.unit).toBe('milliseconds');
    expect(app.endValue).toBe(30);
    // Samples go from the outermost frame to the innermost.
    const names = app.samples[0]!.map((i) => file.shared.frames[i]!.name);
    expect(names).toEqual(['_start', 'main', 'work:with:semicolons and a newline', 'hot']);
    expect(file.shared.frames[app.samples[0]![0]!]!.file).toBe(EXE);
    // Frame table shared: both threads' frames are in one list, each once.
    const keys = file.shared.frames.map((f) => `${f.name}@${f.file ?? ''}`);
    expect(new Set(keys).size).toBe(keys.length);
    // Without a known interval (one snapshot): weights 1, unit none.
    const one = toSpeedscope(SHOTS[0]!);
    expect(validateSpeedscope(one)).toBe(true);
    expect(one.profiles[0]!.unit).toBe('none');
  });
});

describe('pprof', () => {
  it('decodes with pprof-format: sample types, pc - 1 locations, mappings, functions, labels, timestamps', () => {
    const buf = toPprof(SHOTS, { intervalMs: 10 });
    expect(buf[0]).toBe(0x1f); // gzip
    expect(buf[1]).toBe(0x8b);
    const p = decodePprof(buf);
    const s = (i: number | bigint): string => p.stringTable.strings[Number(i)]!;
    expect(p.sampleType.map((t) => `${s(t.type)}/${s(t.unit)}`)).toEqual(['samples/count', 'wall/nanoseconds']);
    expect(`${s(p.periodType!.type)}/${s(p.periodType!.unit)}`).toBe('wall/nanoseconds');
    expect(Number(p.period)).toBe(10_000_000);
    expect(Number(p.timeNanos)).toBe(Date.UTC(2026, 0, 1) * 1e6);
    expect(p.sample).toHaveLength(5); // 3 of app, 2 of io (the exited thread has no sample)
    for (const smp of p.sample) expect(smp.value.map(Number)).toEqual([1, 10_000_000]);

    const loc = new Map(p.location.map((l) => [Number(l.id), l]));
    const fn = new Map(p.function.map((f) => [Number(f.id), f]));
    const map = new Map(p.mapping.map((m) => [Number(m.id), m]));
    const first = p.sample[0]!;
    const labels = Object.fromEntries(first.label.map((l) => [s(l.key), Number(l.num) || s(l.str)]));
    expect(labels).toEqual({
      'thread id': 100,
      'thread name': 'app',
      'thread state': 'R',
      timestamp_ns: Date.UTC(2026, 0, 1) * 1e6,
    });
    // Leaf first; the leaf's address is its pc, the callers' are pc - 1.
    const chain = first.locationId.map((id) => loc.get(Number(id))!);
    expect(chain.map((l) => s(fn.get(Number(l.line[0]!.functionId))!.name))).toEqual([
      'hot',
      'work:with:semicolons and a newline',
      'main',
      '_start',
    ]);
    expect(chain.map((l) => BigInt(l.address))).toEqual([
      EXE_BASE + 0x1500n,
      EXE_BASE + 0x1233n,
      EXE_BASE + 0x10ffn,
      EXE_BASE + 0x100fn,
    ]);
    // Mappings: the executable first (pprof's main binary), build ids empty, spans cover the addresses.
    const exe = map.get(Number(chain[0]!.mappingId))!;
    expect(Number(exe.id)).toBe(1);
    expect(s(exe.filename)).toBe(EXE);
    expect(s(exe.buildId)).toBe('');
    expect(BigInt(exe.memoryStart) - BigInt(exe.fileOffset)).toBe(EXE_BASE);
    for (const l of chain) {
      expect(BigInt(l.address) >= BigInt(exe.memoryStart) && BigInt(l.address) < BigInt(exe.memoryLimit)).toBe(true);
    }
    const libc = [...map.values()].find((m) => s(m.filename) === LIBC)!;
    expect(BigInt(libc.memoryStart) - BigInt(libc.fileOffset)).toBe(LIBC_BASE);
    // The frame in no mapping has mapping id 0; the unsymbolized libc frame is named module+offset.
    const io = p.sample.find((smp) => smp.label.some((l) => s(l.key) === 'thread name' && s(l.str) === 'io'))!;
    const ioLocs = io.locationId.map((id) => loc.get(Number(id))!);
    expect(Number(ioLocs[1]!.mappingId)).toBe(0);
    expect(s(fn.get(Number(ioLocs[2]!.line[0]!.functionId))!.name)).toBe('libc.so.6+0x8a000');
  });

  it('exact pcs (as the unwinder marks them) are not looked up at pc - 1', () => {
    const frames = [
      frame(LIBC_BASE + 0x100n, 'handler', LIBC, LIBC_BASE, 'regs'),
      frame(LIBC_BASE + 0x200n, 'handler_caller', LIBC, LIBC_BASE, 'cfi'),
      frame(LIBC_BASE + 0x280n, '__restore_rt', LIBC, LIBC_BASE, 'cfi', false),
      frame(LIBC_BASE + 0x300n, 'interrupted', LIBC, LIBC_BASE, 'signal', false),
    ];
    const p = decodePprof(toPprof(shot(0, [thread(100, 'app', 'S', frames)])));
    const addrs = new Map(p.location.map((l) => [Number(l.id), BigInt(l.address)]));
    expect(p.sample[0]!.locationId.map((id) => addrs.get(Number(id)))).toEqual([
      LIBC_BASE + 0x100n,
      LIBC_BASE + 0x1ffn,
      LIBC_BASE + 0x280n,
      LIBC_BASE + 0x300n,
    ]);
    expect(p.sampleType).toHaveLength(1); // one snapshot: no interval, no wall time
  });
});

describe('flame graph SVG', () => {
  it('is one self-contained SVG document with escaped names, a frame per merged node, and its script', () => {
    const svg = toFlameGraph(SHOTS, { title: 'T <&>' });
    expect(svg.startsWith('<?xml')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('>T &lt;&amp;&gt;</text>'); // the title, escaped
    expect(svg).toContain('data-n="std::vector&lt;int&gt; &amp; &quot;clone3&quot;"');
    expect(svg).not.toMatch(/(src|href)="http/); // nothing fetched from the network
    const script = svg.slice(svg.indexOf('<![CDATA[', svg.indexOf('<script')) + 9, svg.lastIndexOf(']]></script>'));
    expect(script).not.toContain(']]>');
    expect(svg.match(/<g class="f"/g)!.length).toBe(
      // all, app, io, then the stacks: app 4 + 1 (hot/cold split), io 4
      1 + 2 + 5 + 4,
    );
    expect(svg).toContain('data-n="all"');
    expect(svg).toMatch(/<title>hot \(2 samples, 20 ms, 40\.00%\)<\/title>/); // of 5 thread samples
    expect(svg).toContain('5 samples (50 ms) from 3 snapshots');
    expect(toFlameGraph([])).toContain('No samples');
  });
});

describe('sample weights', () => {
  // Snapshots at 0, 10 and 50 ms of a 100 Hz recording that fell behind before the third: the
  // third one's samples stand for 40 ms each, except the running thread's there: a perf-event
  // sample of a recording, standing for the CPU time the kernel counted for it (25 ms: samples
  // were lost), whatever the slots' spacing.
  const perf = (t: ThreadStack): ThreadStack => ({ ...t, capture: 'perf', pauseNs: 0, weightNs: 25e6 });
  const BEHIND: Snapshot[] = [
    shot(0, [thread(100, 'app', 'R', mainStack('hot')), thread(101, 'io', 'S', workerStack())]),
    shot(10, [thread(100, 'app', 'R', mainStack('hot')), thread(101, 'io', 'S', workerStack())]),
    shot(50, [perf(thread(100, 'app', 'R', mainStack('hot'))), thread(101, 'io', 'S', workerStack())]),
    shot(60, [thread(100, 'app', 'S', mainStack('cold'))]),
  ];

  it('each sample weighs the real interval since the previous snapshot (perf samples: one period)', () => {
    const file = toSpeedscope(BEHIND, { intervalMs: 10 });
    expect(file.profiles.map((p) => p.weights)).toEqual([
      [10, 10, 25, 10],
      [10, 10, 40],
    ]);
    expect(file.profiles.map((p) => p.endValue)).toEqual([55, 60]);
    const p = decodePprof(toPprof(BEHIND, { intervalMs: 10 }));
    expect(p.sample.map((smp) => Number(smp.value[1]) / 1e6)).toEqual([10, 10, 25, 10, 10, 10, 40]);
    // The flame graph's widths are time: epoll_wait (3 samples, 60 ms) is 52.17 % of 115 ms.
    const svg = toFlameGraph(BEHIND, { intervalMs: 10 });
    expect(svg).toMatch(/data-total="115"/);
    expect(svg).toMatch(/<title>epoll_wait \(3 samples, 60 ms, 52\.17%\)<\/title>/);
    expect(svg).toMatch(/<title>hot \(3 samples, 45 ms, 39\.13%\)<\/title>/);
    expect(svg).toContain('7 samples (115 ms) from 4 snapshots');
    // Folded counts samples: the same 7.
    expect(parseFolded(toFolded(BEHIND)).reduce((a, l) => a + l.count, 0)).toBe(7);
    // Without a given interval, the nominal one is the mean spacing (20 ms): first samples weigh it.
    expect(toSpeedscope(BEHIND).profiles[1]!.weights).toEqual([20, 10, 40]);
  });
});

describe('formatFromPath', () => {
  it('maps extensions to formats', () => {
    expect(formatFromPath('a.folded')).toBe('folded');
    expect(formatFromPath('a.txt')).toBe('folded');
    expect(formatFromPath('x/a.speedscope.json')).toBe('speedscope');
    expect(formatFromPath('a.json')).toBe('json');
    expect(formatFromPath('a.ndjson')).toBe('json');
    expect(formatFromPath('a.pb.gz')).toBe('pprof');
    expect(formatFromPath('a.pprof')).toBe('pprof');
    expect(formatFromPath('A.SVG')).toBe('svg');
    expect(formatFromPath('a.bin')).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// A real recording

describe('a real recording of the threads fixture', () => {
  let shots: Snapshot[] = [];
  let tmp: string;
  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-formats-'));
    const t = await startFixture('threads', 'fp');
    for await (const s of record(t.pid, { hz: 99, durationMs: 1000, state: 'all' })) shots.push(s);
    await stopAllTargets();
  }, 30_000);
  afterAll(() => {
    shots = [];
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('speedscope: schema-valid, one profile per thread, spin_leaf in the spin profile', () => {
    const file = toSpeedscope(shots, { intervalMs: 1000 / 99 });
    expect(validateSpeedscope(file), JSON.stringify(validateSpeedscope.errors)).toBe(true);
    expect(file.profiles.length).toBe(8);
    const spin = file.profiles.find((p) => p.name.startsWith('spin '))!;
    const leaves = spin.samples.map((st) => file.shared.frames[st.at(-1)!]!.name);
    expect(leaves.filter((n) => n === 'spin_leaf').length / leaves.length).toBeGreaterThan(0.9);
  });

  it('pprof: decodes; every thread sample is a pprof sample', () => {
    const p = decodePprof(toPprof(shots, { intervalMs: 1000 / 99 }));
    const threadSamples = shots.reduce((a, s) => a + s.threads.filter((t) => t.frames.length > 0).length, 0);
    expect(p.sample.length).toBe(threadSamples);
    const names = new Set(p.function.map((f) => p.stringTable.strings[Number(f.name)]));
    for (const n of ['spin_leaf', 'depth_20', 'spin_thread_main', 'main']) expect(names.has(n)).toBe(true);
  });

  it.skipIf(!HAVE_GO)(
    'pprof: `go tool pprof -top` reads it and ranks spin_leaf among the top (skipped without go)',
    () => {
      const file = path.join(tmp, 'rec.pb.gz');
      fs.writeFileSync(file, toPprof(shots, { intervalMs: 1000 / 99, state: 'running' }));
      const r = spawnSync('go', ['tool', 'pprof', '-top', file], {
        encoding: 'utf8',
        env: { ...process.env, PPROF_TMPDIR: tmp, HOME: tmp },
      });
      expect(r.status, r.stderr).toBe(0);
      const rows = r.stdout.split('\n').filter((l) => /^\s*[\d.]+m?s\s/.test(l));
      expect(rows[0], r.stdout).toMatch(/\sspin_leaf$/);
      expect(r.stdout).toMatch(/^Type: wall$/m);
    },
  );

  it('pprof with lines: locations carry the source lines the frames had, functions their source file; go tool pprof -lines reads them', async () => {
    const t = await startFixture('threads', 'fp', ['--only', 'spin']);
    const withLines: Snapshot[] = [];
    for await (const shot of record(t.pid, { hz: 99, durationMs: 300, lines: true })) withLines.push(shot);
    await stopAllTargets();
    const frameLines = new Set<string>(); // "symbol file:line" of every named frame with a line
    for (const shot of withLines)
      for (const th of shot.threads)
        for (const f of th.frames) if (f.line !== undefined) frameLines.add(`${f.symbol} ${f.file}:${f.line}`);
    expect([...frameLines].some((l) => l.startsWith('spin_leaf '))).toBe(true);
    const p = decodePprof(toPprof(withLines));
    const str = (i: number | bigint): string => p.stringTable.strings[Number(i)]!;
    const fn = new Map(p.function.map((f) => [Number(f.id), f]));
    let withLine = 0;
    for (const loc of p.location) {
      const line = Number(loc.line[0]!.line);
      if (line === 0) continue;
      withLine++;
      const f = fn.get(Number(loc.line[0]!.functionId))!;
      expect(
        frameLines.has(`${str(f.name)} ${str(f.filename)}:${line}`),
        `${str(f.name)} ${str(f.filename)}:${line}`,
      ).toBe(true);
    }
    expect(withLine).toBeGreaterThan(0);
    if (HAVE_GO) {
      const file = path.join(tmp, 'lines.pb.gz');
      fs.writeFileSync(file, toPprof(withLines));
      const r = spawnSync('go', ['tool', 'pprof', '-lines', '-top', file], {
        encoding: 'utf8',
        env: { ...process.env, PPROF_TMPDIR: tmp, HOME: tmp },
      });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/ spin_leaf \S*threads\.c:\d+$/m);
    }
  });

  it('flame graph: every thread is a tower above "all"; spin_leaf is drawn', () => {
    const svg = toFlameGraph(shots);
    for (const name of ['spin', 'sleeper', 'condwait', 'joiner', 'joinee', 'epoller', 'reader', 'threads']) {
      expect(svg).toContain(`data-d="1" data-n="${name}"`);
    }
    expect(svg).toMatch(/data-n="spin_leaf"/);
  });
});
