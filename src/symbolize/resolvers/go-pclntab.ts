// Go function names from `.gopclntab`, for Go binaries built without symbols (`go build
// -ldflags='-s -w'`): Go keeps this table for its own tracebacks, so it survives stripping.
// Its stack-pointer deltas (pcsp) give such binaries their unwind rules (unwind/go-debug-frame.ts).
// Layout of Go 1.18 and later (runtime/symtab.go, pcHeader): magic 0xfffffff0 (1.18, 1.19) or
// 0xfffffff1 (1.20+), then the function table, one (entryoff, funcoff) pair of uint32 per
// function, entry offsets relative to textStart, and each _func's nameOff into funcnametab.
// The table comes from the target's file: every offset is checked against the section, and a
// table that fails a check names nothing. Go's names carry no ABI suffix here (`runtime.goexit`
// where .symtab says `runtime.goexit.abi0` for an assembly function).
import { cString, type ElfFile } from '../../elf/elf-file';

const MAGIC_GO118 = 0xfffffff0;
const MAGIC_GO120 = 0xfffffff1;
const HEADER_BYTES = 72; // pcHeader with 8-byte pointers
/** Larger than any real binary's table (a large Go program's is tens of MB): read no more. */
const MAX_TABLE_BYTES = 256 << 20;
const MAX_NAME_BYTES = 4096;
/** Go names are text: no control characters, no replacement characters from bad UTF-8. */
function isName(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || c === 0xfffd) return false;
  }
  return s.length > 0;
}

/** A Go function: its name and where the looked-up address lies in it. */
export interface GoFunction {
  name: string;
  offset: number;
}

/**
 * One function's stack-pointer deltas (its pcsp table): from `entry` (a link-time address) on,
 * step i holds `deltas[i]` bytes below the entry's stack pointer, up to `ends[i]` bytes past
 * the entry (exclusive).
 */
export interface GoStackSteps {
  entry: bigint;
  ends: number[];
  deltas: number[];
  /** Go's TOPFRAME flag: the outermost frame of a stack (runtime.goexit, runtime.mstart). */
  topFrame: boolean;
}

/** _func.pcsp's offset in a _func (Go 1.18 and later): entryOff, nameOff, args, deferreturn. */
const FUNC_PCSP = 16;
/** _func.flag's offset: after cuOffset and funcID (1.18, 1.19), and startLine (1.20+). */
const FUNC_FLAG_GO118 = 37;
const FUNC_FLAG_GO120 = 41;
const FUNC_FLAG_TOPFRAME = 1;
/**
 * The deltas a real table holds: frames up to Go's runtime.call1073741824 (1 GiB), and a few
 * words above the entry's stack pointer (asyncPreempt pops what the signal handler pushed).
 */
const MAX_SP_DELTA = 2 ** 31 - 64;
const MIN_SP_DELTA = -4096;

export class GoPclntab {
  private constructor(
    private readonly table: Buffer,
    private readonly textStart: bigint,
    private readonly nfunc: number,
    /** Byte offsets in table: the function table (pairs), and the function names. */
    private readonly functab: number,
    private readonly funcnames: number,
    /** Byte offset in table of pctab, where each function's pc-value tables (pcsp) are. */
    private readonly pctab: number,
  ) {}

  /** What the parsed table holds in memory (for the module cache's bound). */
  get bytes(): number {
    return this.table.length;
  }

  /** The file's table, or null when it has none this reader knows, or one that fails a check. */
  static read(elf: ElfFile): GoPclntab | null {
    // A position-independent build (-buildmode=pie) keeps it among the relocated read-only data.
    const section = elf.section('.gopclntab') ?? elf.section('.data.rel.ro.gopclntab');
    if (section === undefined || section.size < HEADER_BYTES || section.size > MAX_TABLE_BYTES) return null;
    try {
      const text = elf.section('.text')?.addr ?? 0n;
      return GoPclntab.parse(elf.sectionData(section), text);
    } catch {
      return null; // unreadable file range
    }
  }

  /** Parses a table; `textAddr` stands in for a textStart of 0 (a position-independent build). */
  static parse(table: Buffer, textAddr: bigint): GoPclntab | null {
    if (table.length < HEADER_BYTES) return null;
    const magic = table.readUInt32LE(0);
    if (magic !== MAGIC_GO118 && magic !== MAGIC_GO120) return null;
    if (table[4] !== 0 || table[5] !== 0 || table[7] !== 8) return null; // pads, 8-byte pointers
    if (table[6] !== 1 && table[6] !== 4) return null; // the pc quantum of x86-64, arm64
    const word = (at: number): number => {
      const v = table.readBigUInt64LE(at);
      return v > BigInt(table.length) ? -1 : Number(v);
    };
    const nfunc = word(8);
    const funcnames = word(32);
    const pctab = word(56);
    const functab = word(64);
    if (nfunc <= 0 || funcnames < HEADER_BYTES || functab < HEADER_BYTES || pctab < HEADER_BYTES) return null;
    // nfunc + 1 pairs: the last entry's entryoff is the end of the last function.
    if (functab + (nfunc + 1) * 8 > table.length) return null;
    let previous = -1;
    for (let i = 0; i <= nfunc; i++) {
      const entry = table.readUInt32LE(functab + i * 8);
      if (entry < previous) return null; // Go sorts the table: anything else is not one
      previous = entry;
      if (i < nfunc && functab + table.readUInt32LE(functab + i * 8 + 4) + 8 > table.length) return null;
    }
    const textStart = table.readBigUInt64LE(24);
    return new GoPclntab(table, textStart === 0n ? textAddr : textStart, nfunc, functab, funcnames, pctab);
  }

  /** The function at a link-time address, or null when the table covers no function there. */
  lookup(vaddr: bigint): GoFunction | null {
    if (vaddr < this.textStart) return null;
    const delta = vaddr - this.textStart;
    if (delta >= BigInt(this.entry(this.nfunc))) return null;
    const off = Number(delta);
    let lo = 0;
    let hi = this.nfunc - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.entry(mid) <= off) lo = mid;
      else hi = mid - 1;
    }
    if (this.entry(lo) > off) return null;
    const func = this.functab + this.table.readUInt32LE(this.functab + lo * 8 + 4);
    // The _func repeats its entry offset (Go's own traceback checks the same).
    if (this.table.readUInt32LE(func) !== this.entry(lo)) return null;
    const name = this.nameAt(this.table.readInt32LE(func + 4));
    return name === null ? null : { name, offset: off - this.entry(lo) };
  }

  /**
   * Every function's stack-pointer deltas, in address order, as Go's linker turns them into
   * .debug_frame (the same table Go's own traceback unwinds with). A function whose _func or
   * pcsp table fails a check is left out: the unwinder then has no rule for it.
   */
  *stackSteps(): Generator<GoStackSteps> {
    for (let i = 0; i < this.nfunc; i++) {
      const entry = this.entry(i);
      const end = this.entry(i + 1);
      const func = this.functab + this.table.readUInt32LE(this.functab + i * 8 + 4);
      const flagAt = func + (this.table.readUInt32LE(0) === MAGIC_GO120 ? FUNC_FLAG_GO120 : FUNC_FLAG_GO118);
      if (end <= entry || flagAt >= this.table.length) continue;
      if (this.table.readUInt32LE(func) !== entry) continue;
      const topFrame = (this.table[flagAt] & FUNC_FLAG_TOPFRAME) !== 0;
      const steps: GoStackSteps = { entry: this.textStart + BigInt(entry), ends: [], deltas: [], topFrame };
      if (this.pcValues(this.table.readUInt32LE(func + FUNC_PCSP), end - entry, steps)) yield steps;
    }
  }

  /**
   * A pc-value table (runtime/symtab.go, step): pairs of a zigzag value delta and a pc delta,
   * from value -1 at the entry, until a zero value delta or the function's `size`, appended to
   * `into`. False when it runs out of the table, past `size`, or to a value no frame has.
   */
  private pcValues(off: number, size: number, into: GoStackSteps): boolean {
    if (off === 0) return false;
    const t = this.table;
    let p = this.pctab + off;
    let pc = 0;
    let value = -1;
    while (pc < size) {
      const delta = readUvarint(t, p);
      if (delta < 0) return false;
      if (delta === 0 && into.ends.length > 0) break; // the end: what follows is padding
      const step = readUvarint(t, uvarintEnd);
      if (step <= 0) return false;
      p = uvarintEnd;
      value += delta & 1 ? -((delta + 1) / 2) : delta / 2;
      pc += step * t[6]; // the pc quantum: 1 on x86-64, 4 on arm64
      if (value < MIN_SP_DELTA || value > MAX_SP_DELTA || pc > size) return false;
      into.ends.push(pc);
      into.deltas.push(value);
    }
    return into.ends.length > 0;
  }

  /** A NUL-terminated name in funcnametab, or null when it is out of range, too long or not text. */
  private nameAt(nameOff: number): string | null {
    const at = this.funcnames + nameOff;
    if (nameOff < 0 || at >= this.table.length) return null;
    const end = this.table.indexOf(0, at);
    if (end < 0 || end === at || end - at > MAX_NAME_BYTES) return null;
    const name = cString(this.table, at, MAX_NAME_BYTES);
    return isName(name) ? name : null;
  }

  private entry(i: number): number {
    return this.table.readUInt32LE(this.functab + i * 8);
  }
}

/** Where the last readUvarint stopped: its result is the value alone, to allocate nothing. */
let uvarintEnd = 0;

/** An unsigned LEB128 varint of at most 32 bits at `at` (its end in uvarintEnd), or -1 past the buffer or too long. */
function readUvarint(b: Buffer, at: number): number {
  let value = 0;
  for (let shift = 0, p = at; shift < 35 && p < b.length; shift += 7, p++) {
    value += (b[p] & 0x7f) * 2 ** shift;
    if ((b[p] & 0x80) === 0) {
      uvarintEnd = p + 1;
      return value > 0xffffffff ? -1 : value;
    }
  }
  return -1;
}
