// A .debug_frame for a Go binary stripped of its DWARF (`-ldflags='-s -w'`), built from
// .gopclntab's stack-pointer deltas (pcsp), which stripping keeps because Go's own traceback
// needs them. Go's linker writes an unstripped binary's .debug_frame from the same tables
// (cmd/link/internal/ld/dwarf.go, writeframes), and this writes the same rules:
// - x86-64: the CFA is the stack pointer plus the delta plus the return address's 8 bytes; the
//   return address is just below the CFA.
// - arm64: the CFA is the stack pointer plus the delta; the return address stays in the link
//   register until the frame exists (delta 0), then is saved at its bottom (CFA - delta); a
//   TOPFRAME function's return address is undefined (the stack ends there).
// Without it, a stripped Go binary is unwound by frame pointers alone, which are wrong in every
// prologue and epilogue (Go saves the frame pointer only after its stack check).
import type { ElfFile } from '../elf/elf-file';
import { GoPclntab, type GoStackSteps } from '../symbolize/resolvers/go-pclntab';
import type { Arch } from '../types';

const DW_CFA_advance_loc = 0x40;
const DW_CFA_advance_loc1 = 0x02;
const DW_CFA_advance_loc2 = 0x03;
const DW_CFA_advance_loc4 = 0x04;
const DW_CFA_offset_extended = 0x05;
const DW_CFA_undefined = 0x07;
const DW_CFA_same_value = 0x08;
const DW_CFA_def_cfa = 0x0c;
const DW_CFA_offset_extended_sf = 0x11;
const DW_CFA_def_cfa_offset_sf = 0x13;
const DW_CFA_val_offset = 0x14;
/** Go's factors: offsets are multiples of 4 (data), addresses of 1 (code). */
const DATA_ALIGN = -4;
/**
 * More than any real binary needs (Go's own 16 MB compiler: 0.7 MB). The table comes from the
 * target's file: one built to be huge gets no rules, and its frames fall back to frame pointers.
 */
const MAX_FRAME_BYTES = 64 << 20;

/** The DWARF registers each architecture's rules name, and what a call pushes. */
const ARCH = {
  x64: { sp: 7, ra: 16, pushed: 8 },
  arm64: { sp: 31, ra: 30, pushed: 0 },
} as const;

/** Bytes appended one by one, growing as needed. */
class ByteWriter {
  private buf = Buffer.alloc(1 << 16);
  length = 0;

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }
  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.length);
    this.length += 4;
  }
  /** Overwrites 4 bytes already written. */
  patchU32(at: number, v: number): void {
    this.buf.writeUInt32LE(v, at);
  }
  u64(v: bigint): void {
    this.room(8);
    this.buf.writeBigUInt64LE(v, this.length);
    this.length += 8;
  }
  uleb(v: number): void {
    do {
      const byte = v & 0x7f;
      v = Math.floor(v / 128);
      this.u8(v === 0 ? byte : byte | 0x80);
    } while (v !== 0);
  }
  sleb(v: number): void {
    for (;;) {
      const byte = v & 0x7f;
      v = Math.floor(v / 128);
      const done = (v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0);
      this.u8(done ? byte : byte | 0x80);
      if (done) return;
    }
  }
  /** Pads with DW_CFA_nop (0) from `start` to a multiple of 8 bytes. */
  pad(start: number): void {
    while ((this.length - start) % 8 !== 0) this.u8(0);
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

/** Starts an entry (CIE or FDE): its length word, filled in by endEntry. */
function startEntry(w: ByteWriter): number {
  const start = w.length;
  w.u32(0);
  return start;
}

/** Pads the entry begun at `start` and writes its length. */
function endEntry(w: ByteWriter, start: number): void {
  w.pad(start + 4);
  w.patchU32(start, w.length - start - 4);
}

/** Moves the row's address on by n bytes, in the shortest form. */
function advance(w: ByteWriter, n: number): void {
  if (n < 0x40) {
    w.u8(DW_CFA_advance_loc | n);
  } else if (n <= 0xff) {
    w.u8(DW_CFA_advance_loc1);
    w.u8(n);
  } else if (n <= 0xffff) {
    w.u8(DW_CFA_advance_loc2);
    w.u8(n & 0xff);
    w.u8(n >> 8);
  } else {
    w.u8(DW_CFA_advance_loc4);
    w.u32(n);
  }
}

function writeFde(w: ByteWriter, f: GoStackSteps, arch: Arch): void {
  const { ra, pushed } = ARCH[arch];
  const last = f.ends.length - 1;
  const start = startEntry(w);
  w.u32(0); // the CIE, at the section's start
  w.u64(f.entry);
  w.u64(BigInt(f.ends[last]));
  if (arch === 'arm64' && f.topFrame) {
    w.u8(DW_CFA_undefined);
    w.uleb(ra);
  }
  for (let i = 0; i <= last; i++) {
    const delta = f.deltas[i];
    if (arch === 'arm64' && f.topFrame) {
      // as Go's linker: the undefined return address holds all through
    } else if (arch === 'arm64' && delta > 0) {
      w.u8(DW_CFA_offset_extended_sf);
      w.uleb(ra);
      w.sleb(delta / -DATA_ALIGN); // at CFA - delta
    } else if (arch === 'arm64') {
      w.u8(DW_CFA_same_value);
      w.uleb(ra);
    }
    w.u8(DW_CFA_def_cfa_offset_sf);
    w.sleb((delta + pushed) / DATA_ALIGN);
    if (i < last) advance(w, f.ends[i] - (i > 0 ? f.ends[i - 1] : 0));
  }
  endEntry(w, start);
}

function writeCie(w: ByteWriter, arch: Arch): void {
  const { sp, ra, pushed } = ARCH[arch];
  const cie = startEntry(w);
  w.u32(0xffffffff); // a CIE
  w.u8(3); // version
  w.u8(0); // no augmentation
  w.uleb(1); // code alignment
  w.sleb(DATA_ALIGN);
  w.uleb(ra);
  w.u8(DW_CFA_def_cfa);
  w.uleb(sp);
  w.uleb(pushed); // at entry: the return address just pushed (x86-64), or in the link register
  if (arch === 'x64') {
    w.u8(DW_CFA_offset_extended);
    w.uleb(ra);
    w.uleb(8 / -DATA_ALIGN); // at CFA - 8
  } else {
    w.u8(DW_CFA_same_value);
    w.uleb(ra);
    w.u8(DW_CFA_val_offset);
    w.uleb(sp);
    w.uleb(0); // the caller's sp is the CFA
  }
  endEntry(w, cie);
}

/** The .debug_frame Go's linker would have written, from the ELF's .gopclntab; undefined without one. */
export function goDebugFrame(elf: ElfFile, arch: Arch): Buffer | undefined {
  const table = GoPclntab.read(elf);
  if (table === null) return undefined;
  const w = new ByteWriter();
  writeCie(w, arch);
  const cieEnd = w.length;
  for (const f of table.stackSteps()) {
    if (f.deltas.every((d) => d % 4 === 0)) writeFde(w, f, arch);
    if (w.length > MAX_FRAME_BYTES) return undefined;
  }
  return w.length === cieEnd ? undefined : Buffer.from(w.bytes());
}
