// aarch64 unwinding on captured data. There is no aarch64 machine here: the fixture is
// cross-compiled and run under qemu-aarch64; gdb (through qemu's gdb stub) stops it, dumps its
// registers and stack into a stackshot capture file, and stackshot unwinds that file offline
// with the aarch64 unwinder, using the binary's .eh_frame (or .debug_frame, in the debugframe
// variant). gdb's own backtrace of the same stop is the oracle.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { snapshotFromFile, type SavedCapture } from '../src/capture-file';
import { ElfFile, FdSource } from '../src/elf/elf-file';
import { have } from './helpers/tools';

const READY = have('aarch64-linux-gnu-gcc') && have('qemu-aarch64') && have('gdb-multiarch');

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-aarch64-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/**
 * 'debugframe': no frame pointers, and the fixture's CFI only in .debug_frame (no .eh_frame of
 * its own: -g with the unwind tables off), as some static and embedded builds have it.
 */
type Variant = 'fp' | 'nofp' | 'debugframe';

function build(variant: Variant): string {
  const out = path.join(dir, `aarch64_stack-${variant}`);
  const fp = variant === 'fp' ? ['-fno-omit-frame-pointer'] : ['-fomit-frame-pointer'];
  const cfi = variant === 'debugframe' ? ['-g', '-fno-asynchronous-unwind-tables', '-fno-unwind-tables'] : [];
  execFileSync('aarch64-linux-gnu-gcc', [
    '-static',
    '-O1',
    ...fp,
    ...cfi,
    '-fno-optimize-sibling-calls',
    path.join(__dirname, 'fixtures', 'aarch64_stack.c'),
    '-o',
    out,
  ]);
  return out;
}

// gdb: stop at `where`, print registers, the stack from sp up to the end of its mapping, and
// gdb's backtrace, as one JSON line.
const GDB_PY = `
import gdb, json
regs = {r: int(gdb.parse_and_eval('$' + r)) & 0xffffffffffffffff for r in ['pc', 'sp', 'x29', 'x30']}
inf = gdb.selected_inferior()
addr, data = regs['sp'], b''
while len(data) < 262144:
    end = (addr // 4096 + 1) * 4096
    try:
        data += bytes(inf.read_memory(addr, end - addr))
    except gdb.MemoryError:
        break
    addr = end
bt, f = [], gdb.newest_frame()
while f is not None:
    bt.append(f.name() or '??')
    f = f.older()
print('CAPTURE ' + json.dumps({'regs': {k: hex(v) for k, v in regs.items()}, 'stack': data.hex(), 'bt': bt}))
`;

interface GdbStop {
  regs: Record<'pc' | 'sp' | 'x29' | 'x30', string>;
  stack: string;
  bt: string[];
}

async function stopUnderGdb(binary: string, where: string): Promise<GdbStop> {
  const port = 20000 + Math.floor(Math.random() * 20000);
  const qemu = spawn('qemu-aarch64', ['-g', String(port), binary], { stdio: 'ignore' });
  try {
    await new Promise((r) => setTimeout(r, 300)); // qemu listens for gdb before running the binary
    const script = path.join(dir, 'dump.py');
    fs.writeFileSync(script, GDB_PY);
    const out = execFileSync(
      'gdb-multiarch',
      [
        '-nx',
        '-batch',
        '-ex',
        'set pagination off',
        '-ex',
        `file ${binary}`,
        '-ex',
        `target remote :${port}`,
        '-ex',
        `break ${where}`,
        '-ex',
        'continue',
        '-ex',
        `source ${script}`,
        '-ex',
        'kill',
      ],
      { encoding: 'utf8', timeout: 60_000 },
    );
    const line = out.split('\n').find((l) => l.startsWith('CAPTURE '));
    if (!line) throw new Error(`gdb printed no capture:\n${out}`);
    return JSON.parse(line.slice('CAPTURE '.length)) as GdbStop;
  } finally {
    qemu.kill('SIGKILL');
  }
}

/** The capture file a live aarch64 capture would produce: maps from the static binary's segments. */
function captureFile(binary: string, stop: GdbStop): string {
  const fd = fs.openSync(binary, 'r');
  const elf = new ElfFile(new FdSource(fd, fs.fstatSync(fd).size));
  fs.closeSync(fd);
  const page = (n: bigint) => n & ~0xfffn;
  const hex = (n: bigint) => n.toString(16).padStart(8, '0');
  const lines = elf.loads.map((l) => {
    const perms = `${l.flags & 4 ? 'r' : '-'}${l.flags & 2 ? 'w' : '-'}${l.flags & 1 ? 'x' : '-'}p`;
    const end = (l.vaddr + l.filesz + 0xfffn) & ~0xfffn;
    return `${hex(page(l.vaddr))}-${hex(end)} ${perms} ${hex(page(l.offset))} 00:00 0 ${binary}`;
  });
  const sp = BigInt(stop.regs.sp);
  const stack = Buffer.from(stop.stack, 'hex');
  lines.push(`${hex(page(sp))}-${hex(sp + BigInt(stack.length))} rw-p 00000000 00:00 0 [stack]`);
  const saved: SavedCapture = {
    format: 'stackshot-capture',
    version: 1,
    arch: 'arm64',
    pid: 1,
    command: 'aarch64_stack',
    schedule: 'rolling',
    takenAt: new Date().toISOString(),
    maps: lines.join('\n') + '\n',
    captureNs: 0,
    bytesCopied: stack.length,
    threads: [
      {
        tid: 1,
        name: 'aarch64_stack',
        state: 't',
        status: 'captured',
        errno: 0,
        syscall: '',
        pauseNs: 0,
        pc: stop.regs.pc,
        sp: stop.regs.sp,
        fp: stop.regs.x29,
        lr: stop.regs.x30,
        regs: [],
        stack: stack.toString('base64'),
      },
    ],
  };
  const file = path.join(dir, `capture-${path.basename(binary)}-${Date.now()}.json`);
  fs.writeFileSync(file, JSON.stringify(saved));
  return file;
}

describe.skipIf(!READY)('aarch64 (qemu-aarch64 + gdb-multiarch)', () => {
  for (const variant of ['fp', 'nofp', 'debugframe'] as const) {
    for (const where of ['capture_point', '*level_3']) {
      it(`${variant} build, stopped at ${where}: the frames equal gdb's and reach _start`, async () => {
        const binary = build(variant);
        const stop = await stopUnderGdb(binary, where);
        const shot = snapshotFromFile(captureFile(binary, stop));
        const t = shot.threads[0];
        const names = t.frames.map((f) => f.symbol);
        // gdb stops its backtrace at main; stackshot goes on to the entry.
        expect(names.slice(0, stop.bt.length)).toEqual(stop.bt);
        expect(stop.bt.at(-1)).toBe('main');
        expect(names.at(-1)).toBe('_start');
        expect(t.complete).toBe(true);
        if (where === '*level_3') expect(t.frames[1].method).toBe('lr'); // caller only in x30
      }, 90_000);
    }
  }
});

// Pointer authentication: return addresses signed by a CPU with PAC carry the signature in the
// bits the kernel reports as NT_ARM_PAC_MASK, which depend on the address space's size. A 39-bit
// address space (as some kernels configure) puts them from bit 39 up: a fixed 48-bit strip would
// leave bits 39-47 in place. The capture carries the mask and the unwinder strips with it.
const VA_BITS = 39n;
const PAC_MASK = ((1n << 55n) - 1n) & ~((1n << VA_BITS) - 1n);
const SIGNATURE = (0x1d3n << VA_BITS) | (1n << 50n); // inside the mask, partly below bit 48

/** The stop as a PAC CPU would show it: x30 and every saved return address of the x29 chain signed. */
function signed(stop: GdbStop): { stop: GdbStop; count: number } {
  const stack = Buffer.from(stop.stack, 'hex');
  const sp = BigInt(stop.regs.sp);
  let count = 0;
  for (let fp = BigInt(stop.regs.x29); fp >= sp && fp + 16n <= sp + BigInt(stack.length);) {
    const at = Number(fp - sp);
    const ra = stack.readBigUInt64LE(at + 8);
    if (ra !== 0n) {
      stack.writeBigUInt64LE(ra | SIGNATURE, at + 8);
      count++;
    }
    const next = stack.readBigUInt64LE(at);
    if (next <= fp) break;
    fp = next;
  }
  const x30 = `0x${(BigInt(stop.regs.x30) | SIGNATURE).toString(16)}`;
  return { stop: { ...stop, regs: { ...stop.regs, x30 }, stack: stack.toString('hex') }, count };
}

function withPacMask(file: string, mask: bigint): string {
  const saved = JSON.parse(fs.readFileSync(file, 'utf8')) as SavedCapture;
  saved.threads[0].pacMask = `0x${mask.toString(16)}`;
  fs.writeFileSync(file, JSON.stringify(saved));
  return file;
}

describe.skipIf(!READY)('aarch64 pointer authentication (qemu-aarch64 + gdb-multiarch)', () => {
  it("strips signed return addresses with the capture's NT_ARM_PAC_MASK, not a fixed 48-bit mask", async () => {
    const binary = build('fp');
    const stop = await stopUnderGdb(binary, '*level_3');
    const plain = snapshotFromFile(captureFile(binary, stop)).threads[0];
    const { stop: signedStop, count } = signed(stop);
    expect(count).toBeGreaterThanOrEqual(3); // level_2, level_1, main at least
    const masked = snapshotFromFile(withPacMask(captureFile(binary, signedStop), PAC_MASK)).threads[0];
    expect(masked.frames.map((f) => [f.pc, f.symbol, f.method])).toEqual(
      plain.frames.map((f) => [f.pc, f.symbol, f.method]),
    );
    expect(masked.complete).toBe(true);
    // Without the mask, bits 39-47 of the signature stay: the first signed return address leads nowhere.
    const unmasked = snapshotFromFile(captureFile(binary, signedStop)).threads[0];
    expect(unmasked.complete).toBe(false);
    expect(unmasked.frames.length).toBeLessThan(plain.frames.length);
  }, 90_000);
});
