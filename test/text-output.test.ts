import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatSnapshotHeader,
  formatSnapshotText,
  formatThreadText,
  frameModuleText,
  frameSymbolText,
  padAddress,
} from '../src/output/text';
import type { Frame, Snapshot, ThreadStack } from '../src/types';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

function frame(pc: string, over: Partial<Frame> = {}): Frame {
  return {
    pc,
    method: 'cfi',
    returnAddress: true,
    module: null,
    moduleOffset: null,
    symbol: null,
    symbolOffset: null,
    ...over,
  };
}

function thread(over: Partial<ThreadStack> = {}): ThreadStack {
  return {
    tid: 1234,
    name: 'node',
    state: 'S',
    frames: [],
    end: 'thread-entry',
    complete: true,
    pauseNs: 23_000,
    capture: 'ptrace',
    stackBytes: 4096,
    ...over,
  };
}

function snap(threads: ThreadStack[], over: Partial<Snapshot> = {}): Snapshot {
  return {
    version: 1,
    pid: 1234,
    command: 'node',
    schedule: 'rolling',
    takenAt: '2025-01-01T00:00:00.000Z',
    threads,
    cost: {
      totalNs: 410_000,
      pauseNsMax: 23_400,
      walkNs: 5_000,
      symbolizeNs: 100_000,
      modulesNs: 0,
      bytesCopied: 8192,
    },
    ...over,
  };
}

const main = thread({
  frames: [
    frame('0x7f3a1c2e1c6a', {
      method: 'regs',
      module: LIBC,
      moduleOffset: '0x126c6a',
      symbol: 'epoll_wait',
      symbolOffset: 0x1a,
    }),
    frame('0x558e4a1b2c3d', {
      module: '/usr/bin/node',
      moduleOffset: '0x1b2c3d',
      symbol: 'uv__io_poll',
      symbolOffset: 0x2f3,
    }),
    frame('0x7f3a1c000123', { module: '/opt/lib/libfoo.so', moduleOffset: '0x1234', symbol: null, symbolOffset: null }),
    frame('0x1000', { method: 'fp' }),
  ],
});

describe('formatSnapshotText', () => {
  it('prints the process header like the design: pid, command, threads, schedule, cost', () => {
    const text = formatSnapshotText(snap([main, thread({ tid: 1235, name: 'libuv-worker' })]));
    expect(text.split('\n')[0]).toBe('PID 1234 (node) — 2 threads, rolling, 0.41 ms (max pause 23 µs)');
  });

  it('prints a thread header then one line per frame, with symbol+offset and module', () => {
    const lines = formatSnapshotText(snap([main])).split('\n');
    expect(lines[1]).toBe('');
    expect(lines[2]).toBe('TID 1234 "node" S — complete (thread-entry), 4 frames');
    expect(lines[3]).toBe(`#0  0x00007f3a1c2e1c6a  epoll_wait+0x1a  (${LIBC})`);
    expect(lines[4]).toBe('#1  0x0000558e4a1b2c3d  uv__io_poll+0x2f3  (/usr/bin/node)');
  });

  it('prints ?? and module+offset for unknown symbols, and ?? alone outside any mapping', () => {
    const lines = formatSnapshotText(snap([main])).split('\n');
    expect(lines[5]).toBe('#2  0x00007f3a1c000123  ??  (/opt/lib/libfoo.so+0x1234)');
    expect(lines[6]).toBe('#3  0x0000000000001000  ??');
  });

  it('leaves the snapshot untouched: JSON keeps null symbols', () => {
    const s = snap([main]);
    const before = JSON.stringify(s);
    formatSnapshotText(s, { color: true });
    expect(JSON.stringify(s)).toBe(before);
    expect(s.threads[0]!.frames[2]!.symbol).toBeNull();
  });

  it('says why an incomplete stack ended, in its header and in the process header', () => {
    const t = thread({ tid: 1236, complete: false, end: 'copy-exhausted', frames: [main.frames[0]!] });
    const text = formatSnapshotText(snap([main, t]));
    expect(text).toContain('PID 1234 (node) — 2 threads (1 incomplete), rolling');
    expect(text).toContain(
      'TID 1236 "node" S — incomplete (copy-exhausted: ran past the copied stack bytes (raise --stack-bytes)), 1 frame\n',
    );
  });

  it('prints failed threads with their failure and errno name', () => {
    const exited = thread({
      tid: 1237,
      name: 'worker',
      state: 'R',
      frames: [],
      end: 'not-captured',
      complete: false,
      failure: 'exited',
    });
    const failed = thread({
      tid: 1238,
      name: 'worker',
      state: 'D',
      frames: [],
      end: 'not-captured',
      complete: false,
      failure: 'failed',
      failureCode: 'EIO',
    });
    const timeout = thread({
      tid: 1239,
      name: 'x',
      state: 'D',
      frames: [],
      end: 'not-captured',
      complete: false,
      failure: 'timeout',
    });
    const text = formatSnapshotText(snap([exited, failed, timeout]));
    expect(text).toContain('3 threads (3 not captured)');
    expect(text).toContain('TID 1237 "worker" R — not captured: exited during the snapshot\n');
    expect(text).toContain('TID 1238 "worker" D — not captured: could not be stopped (EIO)\n');
    expect(text).toContain('TID 1239 "x" D — not captured: did not stop in time\n');
  });

  it('aligns frame numbers when there are 10 frames or more', () => {
    const frames = Array.from({ length: 12 }, (_, i) => frame(`0x${(0x401000 + i).toString(16)}`));
    const out = formatThreadText(thread({ frames }));
    const lines = out.split('\n');
    expect(lines[0]).toBe('TID 1234 "node" S — complete (thread-entry), 12 frames');
    expect(lines[1]).toBe('#0   0x0000000000401000  ??');
    expect(lines[12]).toBe('#11  0x000000000040100b  ??');
  });

  it('marks signal frames and quotes odd thread names', () => {
    const t = thread({
      name: 'a "b"',
      frames: [
        frame('0x10', {
          method: 'signal',
          module: '[vdso]',
          moduleOffset: '0x10',
          symbol: '__restore_rt',
          symbolOffset: 0,
        }),
      ],
    });
    const out = formatThreadText(t);
    expect(out).toContain('TID 1234 "a \\"b\\"" S');
    expect(out).toContain('__restore_rt+0x0  ([vdso])  <signal frame>');
  });

  it('uses ANSI colors only when asked', () => {
    const s = snap([main]);
    expect(formatSnapshotText(s)).not.toMatch(/\x1b\[/);
    expect(formatSnapshotText(s, { color: false })).not.toMatch(/\x1b\[/);
    const colored = formatSnapshotText(s, { color: true });
    expect(colored).toMatch(/\x1b\[1m/);
    expect(colored.replace(/\x1b\[\d+m/g, '')).toBe(formatSnapshotText(s));
  });

  it('handles a single thread and an empty snapshot', () => {
    expect(formatSnapshotHeader(snap([main]))).toContain('— 1 thread, rolling');
    expect(formatSnapshotText(snap([], { schedule: 'consistent' }))).toBe(
      'PID 1234 (node) — 0 threads, consistent, 0.41 ms (max pause 23 µs)\n',
    );
  });

  it('ends with exactly one newline', () => {
    const text = formatSnapshotText(snap([main]));
    expect(text.endsWith('??\n')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(false);
  });
});

describe('helpers', () => {
  it('formatDuration picks a unit', () => {
    expect(formatDuration(830)).toBe('830 ns');
    expect(formatDuration(23_400)).toBe('23 µs');
    expect(formatDuration(410_000)).toBe('0.41 ms');
    expect(formatDuration(1_250_000_000)).toBe('1.25 s');
  });

  it('padAddress pads to 16 hex digits and lowercases', () => {
    expect(padAddress('0x1')).toBe('0x0000000000000001');
    expect(padAddress('0x7F3A1C2E1C6A')).toBe('0x00007f3a1c2e1c6a');
    expect(padAddress('0xffffffffffffffff')).toBe('0xffffffffffffffff');
    expect(padAddress('garbage')).toBe('garbage');
  });

  it('frameSymbolText and frameModuleText', () => {
    expect(frameSymbolText(frame('0x1', { symbol: 'f', symbolOffset: 16 }))).toBe('f+0x10');
    expect(frameSymbolText(frame('0x1', { symbol: 'f', symbolOffset: null }))).toBe('f');
    expect(frameSymbolText(frame('0x1'))).toBe('??');
    expect(frameModuleText(frame('0x1'))).toBe('');
    expect(frameModuleText(frame('0x1', { module: '[anon]', moduleOffset: '0x0', symbol: 'jitted' }))).toBe('([anon])');
    expect(frameModuleText(frame('0x1', { module: '/x.so', moduleOffset: '0xff' }))).toBe('(/x.so+0xff)');
  });
});

describe('JIT frames named by a perf map', () => {
  const jit = (symbol: string, module = '[anon]'): Frame =>
    frame('0x7f0000001000', { module, moduleOffset: '0x0', symbol, symbolOffset: 0xc6 });
  const line = (f: Frame): string => `${frameSymbolText(f)}  ${frameModuleText(f)}`;

  it("shows V8's name, tier and definition apart (`<tag>:<tier><name> <script>:<line>:<col>`)", () => {
    expect(line(jit('JS:*isPrime /app/w.js:42:17'))).toBe('isPrime+0xc6  (JS optimized, /app/w.js:42:17)');
    expect(line(jit('JS:~inner /tmp/x.js:2:15'))).toBe('inner+0xc6  (JS interpreted, /tmp/x.js:2:15)');
    expect(line(jit('JS:^spin /tmp/x.js:1:14'))).toBe('spin+0xc6  (JS baseline, /tmp/x.js:1:14)');
    expect(line(jit('JS:+hot node:internal/x:3:1'))).toBe('hot+0xc6  (JS maglev, node:internal/x:3:1)');
    expect(line(jit('JS:~ /app/w.js:1:1'))).toBe('(anonymous)+0xc6  (JS interpreted, /app/w.js:1:1)');
    expect(line(jit('Script:~ [eval]:1:1'))).toBe('(top level)+0xc6  (JS interpreted, [eval]:1:1)');
    expect(line(jit('LazyCompile:*old /a.js:1'))).toBe('old+0xc6  (JS optimized, /a.js:1)');
    // Spaces in names (getters) and in paths: the script starts where a script name can start.
    expect(line(jit('JS:~get size node:internal/streams:9:3'))).toBe(
      'get size+0xc6  (JS interpreted, node:internal/streams:9:3)',
    );
    expect(line(jit('JS:*run /home/me/My Project/a.js:4:2'))).toBe(
      'run+0xc6  (JS optimized, /home/me/My Project/a.js:4:2)',
    );
  });

  it("shows Python's (`py::<qualified name>:<file>`); other names as written, and never for file-backed code", () => {
    expect(line(jit('py::Job.run:/app/job.py'))).toBe('Job.run+0xc6  (Python, /app/job.py)');
    expect(line(jit('Builtin:ArgumentsAdaptor'))).toBe('Builtin:ArgumentsAdaptor+0xc6  ([anon])');
    expect(line(jit('JS:~f /a.js:1:1', '/usr/bin/node'))).toBe('JS:~f /a.js:1:1+0xc6  (/usr/bin/node)');
  });

  it('leaves the JSON symbol as the runtime wrote it', () => {
    const s = snap([thread({ frames: [jit('JS:*isPrime /app/w.js:42:17')] })]);
    expect(formatSnapshotText(s)).toContain('isPrime+0xc6  (JS optimized, /app/w.js:42:17)');
    expect(s.threads[0].frames[0].symbol).toBe('JS:*isPrime /app/w.js:42:17');
  });
});
