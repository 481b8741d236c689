// Source lines from DWARF .debug_line (versions 2 to 5): the line-number program of every
// unit is run once into sorted rows, and an address finds the row that covers it. Debug
// sections may be compressed (dwarf/sections.ts). Every read is
// bounds-checked: a corrupt section yields fewer rows, never an exception out of build().
import type { ElfFile } from '../elf/elf-file';
import { DwarfReader } from './reader';
import { namedSection } from './sections';

// DW_FORM codes used by DWARF 5 directory and file entries.
const FORM = {
  block: 0x09,
  data1: 0x0b,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  data16: 0x1e,
  string: 0x08,
  strp: 0x0e,
  line_strp: 0x1f,
  udata: 0x0f,
  strx: 0x1a,
  strx1: 0x25,
  strx2: 0x26,
  strx4: 0x28,
} as const;
const DW_LNCT_path = 1;
const DW_LNCT_directory_index = 2;

export interface SourceLine {
  file: string;
  line: number;
}

function stringAt(section: Buffer | undefined, off: number): string {
  if (section === undefined || off < 0 || off >= section.length) return '';
  const z = section.indexOf(0, off);
  return section.toString('utf8', off, z < 0 ? section.length : z);
}

function joinPath(dir: string, file: string): string {
  if (file.startsWith('/') || dir === '') return file;
  return `${dir.replace(/\/$/, '')}/${file}`;
}

/** Reads a DWARF 5 entry-format list and its entries: each entry as [path, directory index]. */
function entries(r: DwarfReader, is64: boolean, strs: { str?: Buffer; lineStr?: Buffer }): [string, number][] {
  const formats: [number, number][] = [];
  const formatCount = r.u8();
  for (let i = 0; i < formatCount; i++) formats.push([r.uleb(), r.uleb()]);
  const count = r.uleb();
  const out: [string, number][] = [];
  for (let i = 0; i < count; i++) {
    let name = '';
    let dir = 0;
    for (const [content, form] of formats) {
      let value: string | number = 0;
      switch (form) {
        case FORM.string:
          value = r.cstr();
          break;
        case FORM.line_strp:
          value = stringAt(strs.lineStr, r.offset(is64));
          break;
        case FORM.strp:
          value = stringAt(strs.str, r.offset(is64));
          break;
        case FORM.udata:
          value = r.uleb();
          break;
        case FORM.data1:
          value = r.u8();
          break;
        case FORM.data2:
          value = r.u16();
          break;
        case FORM.data4:
          value = r.u32();
          break;
        case FORM.data8:
          r.u64big();
          break;
        case FORM.data16:
          r.pos += 16;
          break;
        case FORM.block:
          r.pos += r.uleb();
          break;
        case FORM.strx:
        case FORM.strx1:
        case FORM.strx2:
        case FORM.strx4:
          throw new RangeError('strx forms need .debug_str_offsets'); // not emitted for line tables by gcc/clang
        default:
          throw new RangeError(`DW_FORM 0x${form.toString(16)} in a line table header`);
      }
      if (content === DW_LNCT_path) name = String(value);
      else if (content === DW_LNCT_directory_index) dir = Number(value);
    }
    out.push([name, dir]);
  }
  return out;
}

/**
 * Rows as the line programs emit them, in growable typed arrays: libc's .debug_line has ~10^6
 * rows, and a tuple with a BigInt per row cost ~700 ms and tens of MB. Addresses are Numbers:
 * link-time addresses sit far below 2^53.
 */
class Rows {
  n = 0;
  addr = new Float64Array(4096);
  file = new Int32Array(4096);
  line = new Int32Array(4096);
  /** Index of each sequence's first row (a sequence's rows ascend by address). */
  sequences: number[] = [0];

  push(addr: number, file: number, line: number): void {
    if (this.n === this.addr.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
        const b = make(a.length * 2);
        b.set(a);
        return b;
      };
      this.addr = grow(this.addr, (k) => new Float64Array(k));
      this.file = grow(this.file, (k) => new Int32Array(k));
      this.line = grow(this.line, (k) => new Int32Array(k));
    }
    this.addr[this.n] = addr;
    this.file[this.n] = file;
    this.line[this.n] = line;
    this.n++;
  }

  endSequence(): void {
    this.sequences.push(this.n);
  }

  /**
   * Row indices ordered by address, stable (emission order at equal addresses). Sequences are
   * ordered by their first address, which sorts everything when they do not overlap (the usual
   * case); otherwise, and for a program whose addresses go backwards, the rows are sorted.
   */
  order(): Uint32Array {
    const seqs: [number, number][] = [];
    for (let i = 0; i < this.sequences.length; i++) {
      const from = this.sequences[i];
      const to = i + 1 < this.sequences.length ? this.sequences[i + 1] : this.n;
      if (to > from) seqs.push([from, to]);
    }
    seqs.sort((a, b) => this.addr[a[0]] - this.addr[b[0]] || a[0] - b[0]);
    const out = new Uint32Array(this.n);
    let k = 0;
    for (const [from, to] of seqs) for (let i = from; i < to; i++) out[k++] = i;
    for (let i = 1; i < k; i++) {
      if (this.addr[out[i]] < this.addr[out[i - 1]]) {
        const all = Array.from(out);
        all.sort((a, b) => this.addr[a] - this.addr[b] || a - b);
        return Uint32Array.from(all);
      }
    }
    return out;
  }
}

/** What a unit's header says about how to run its line program. */
interface ProgramHeader {
  version: number;
  addressSize: number;
  /** Where the program's opcodes begin (past the file table). */
  programStart: number;
  minInst: number;
  lineBase: number;
  lineRange: number;
  opcodeBase: number;
  /** Argument count of each standard opcode, by opcode. */
  argCounts: number[];
}

function programHeader(r: DwarfReader, is64: boolean): ProgramHeader {
  const version = r.u16();
  if (version < 2 || version > 5) throw new RangeError(`.debug_line version ${version}`);
  let addressSize = 8;
  if (version >= 5) {
    addressSize = r.u8();
    r.u8(); // segment selector size
  }
  const headerLength = r.offset(is64);
  const programStart = r.pos + headerLength;
  const minInst = r.u8();
  if (version >= 4) r.u8(); // maximum operations per instruction (VLIW only)
  r.u8(); // default is_stmt
  const lineBase = (r.u8() << 24) >> 24;
  const lineRange = r.u8();
  const opcodeBase = r.u8();
  const argCounts: number[] = [0];
  for (let i = 1; i < opcodeBase; i++) argCounts.push(r.u8());
  if (lineRange === 0) throw new RangeError('line_range 0');
  return { version, addressSize, programStart, minInst, lineBase, lineRange, opcodeBase, argCounts };
}

/** The unit's file names, in its own numbering's order, each joined to its directory. */
function fileTable(r: DwarfReader, version: number, is64: boolean, strs: { str?: Buffer; lineStr?: Buffer }): string[] {
  const files: string[] = [];
  if (version >= 5) {
    // Directory 0 is the compilation directory; the others, when relative, are relative to it.
    const dirs = entries(r, is64, strs).map(([p], i, all) => (i === 0 ? p : joinPath(all[0][0], p)));
    for (const [name, dir] of entries(r, is64, strs)) files.push(joinPath(dirs[dir] ?? '', name));
    return files;
  }
  const dirs = [''];
  for (let d = r.cstr(); d !== ''; d = r.cstr()) dirs.push(d);
  for (let f = r.cstr(); f !== ''; f = r.cstr()) {
    const dir = r.uleb();
    r.uleb();
    r.uleb();
    files.push(joinPath(dirs[dir] ?? '', f));
  }
  return files;
}

/** The line-number state machine's registers that rows are made of. */
interface LineState {
  address: number;
  file: number;
  line: number;
}

/**
 * Runs a unit's line program into rows. `fileIndex` turns the unit's file number into a global
 * one; `defineFile` adds a file named by DW_LNE_define_file (DWARF 2-4).
 */
function runProgram(
  r: DwarfReader,
  h: ProgramHeader,
  rows: Rows,
  fileIndex: (n: number) => number,
  defineFile: (name: string) => void,
): void {
  const s: LineState = { address: 0, file: 1, line: 1 };
  const emit = () => rows.push(s.address, fileIndex(s.file), s.line);
  let budget = 1 << 24; // bounded work for a hostile program
  while (r.pos < r.end && budget-- > 0) {
    const op = r.u8();
    if (op >= h.opcodeBase) {
      const adjusted = op - h.opcodeBase;
      s.address += Math.floor(adjusted / h.lineRange) * h.minInst;
      s.line += h.lineBase + (adjusted % h.lineRange);
      emit();
      continue;
    }
    switch (op) {
      case 0:
        extendedOp(r, h, rows, s, defineFile);
        break;
      case 1:
        emit();
        break; // copy
      case 2:
        s.address += r.uleb() * h.minInst;
        break; // advance_pc
      case 3:
        s.line += r.sleb();
        break; // advance_line
      case 4:
        s.file = r.uleb();
        break; // set_file
      case 5:
        r.uleb();
        break; // set_column
      case 6:
      case 7:
      case 10:
      case 11:
        break; // negate_stmt, basic_block, prologue_end, epilogue_begin
      case 8:
        s.address += Math.floor((255 - h.opcodeBase) / h.lineRange) * h.minInst;
        break; // const_add_pc
      case 9:
        s.address += r.u16();
        break; // fixed_advance_pc
      case 12:
        r.uleb();
        break; // set_isa
      default:
        for (let i = 0; i < h.argCounts[op]; i++) r.uleb(); // an opcode this reader does not know
    }
  }
}

/** One extended opcode (DW_LNS 0): end_sequence, set_address, define_file; others skipped. */
function extendedOp(
  r: DwarfReader,
  h: ProgramHeader,
  rows: Rows,
  s: LineState,
  defineFile: (name: string) => void,
): void {
  const len = r.uleb();
  const next = r.pos + len;
  const sub = len > 0 ? r.u8() : 0;
  if (sub === 1) {
    rows.push(s.address, -1, 0); // end_sequence
    rows.endSequence();
    s.address = 0;
    s.file = 1;
    s.line = 1;
  } else if (sub === 2) {
    s.address = Number(r.address(Math.min(h.addressSize, len - 1)));
  } else if (sub === 3 && h.version < 5) {
    const name = r.cstr();
    r.uleb(); // directory index
    r.uleb(); // modification time
    r.uleb(); // length
    defineFile(name);
  }
  r.pos = next;
}

/** A unit's file table: its .debug_line offset, its slice [base, end) of the files, and its numbering. */
export type LineUnit = [offset: number, base: number, end: number, zeroBased: boolean];

/** A LineTable's contents: rows sorted by address, the file names they point into, the units. */
export interface LineTableParts {
  addrs: Float64Array;
  fileIdx: Int32Array;
  lines: Int32Array;
  files: readonly string[];
  units: LineUnit[];
}

export class LineTable {
  /** Row start addresses (sorted), each row's file index into `files` and line; 0 line = end of a sequence. */
  private addrs: Float64Array = new Float64Array(0);
  private fileIdx: Int32Array = new Int32Array(0);
  private lines: Int32Array = new Int32Array(0);
  private readonly files: string[] = [];
  /** Each unit's file table by its .debug_line offset (DW_AT_stmt_list): a slice of `files`. */
  private readonly unitFiles = new Map<number, { base: number; end: number; zeroBased: boolean }>();

  /** What the table holds, as the persistent cache stores it (src/cache/line-cache.ts). */
  parts(): LineTableParts {
    const units = [...this.unitFiles].map(([offset, u]): LineUnit => [offset, u.base, u.end, u.zeroBased]);
    return { addrs: this.addrs, fileIdx: this.fileIdx, lines: this.lines, files: this.files, units };
  }

  /**
   * A table from parts(); null when they do not hold together: columns of one length, rows in
   * address order, units inside the files. A row's file index may point nowhere (so may one
   * built from odd DWARF): lookup() then gives no line.
   */
  static fromParts(p: LineTableParts): LineTable | null {
    const n = p.addrs.length;
    if (p.fileIdx.length !== n || p.lines.length !== n) return null;
    for (let k = 1; k < n; k++) if (!(p.addrs[k] >= p.addrs[k - 1])) return null;
    const table = new LineTable();
    for (const [offset, base, end, zeroBased] of p.units) {
      if (!(base >= 0 && base <= end && end <= p.files.length)) return null;
      table.unitFiles.set(offset, { base, end, zeroBased });
    }
    table.addrs = p.addrs;
    table.fileIdx = p.fileIdx;
    table.lines = p.lines;
    table.files.push(...p.files);
    return table;
  }

  /** About how much memory the table holds (rows and file names). */
  get bytes(): number {
    return this.addrs.length * 16 + this.files.reduce((n, f) => n + 2 * f.length + 16, 0);
  }

  /** Parses every unit of .debug_line; units that fail to parse are skipped. */
  static build(elf: ElfFile): LineTable | null {
    const debugLine = namedSection(elf, '.debug_line');
    if (debugLine === undefined) return null;
    const strs = { str: namedSection(elf, '.debug_str'), lineStr: namedSection(elf, '.debug_line_str') };
    const table = new LineTable();
    const rows = new Rows();
    let pos = 0;
    while (pos + 4 <= debugLine.length) {
      let unitLength = debugLine.readUInt32LE(pos);
      let is64 = false;
      let start = pos + 4;
      if (unitLength === 0xffffffff) {
        if (pos + 12 > debugLine.length) break;
        unitLength = Number(debugLine.readBigUInt64LE(pos + 4));
        is64 = true;
        start = pos + 12;
      }
      const end = Math.min(debugLine.length, start + unitLength);
      try {
        table.unit(new DwarfReader(debugLine, start, end), is64, strs, rows, pos);
      } catch {
        // a unit this reader cannot follow: its addresses stay without lines
      }
      rows.endSequence(); // a unit cut short leaves a sequence open: it ends here
      if (end <= pos) break;
      pos = end;
    }
    const order = rows.order();
    table.addrs = new Float64Array(order.length);
    table.fileIdx = new Int32Array(order.length);
    table.lines = new Int32Array(order.length);
    for (let k = 0; k < order.length; k++) {
      table.addrs[k] = rows.addr[order[k]];
      table.fileIdx[k] = rows.file[order[k]];
      table.lines[k] = rows.line[order[k]];
    }
    return table;
  }

  /** Reads one unit: its header and file table into this.files, then its program into rows. */
  private unit(
    r: DwarfReader,
    is64: boolean,
    strs: { str?: Buffer; lineStr?: Buffer },
    rows: Rows,
    offset: number,
  ): void {
    const h = programHeader(r, is64);
    const files = { base: this.files.length, end: 0, zeroBased: h.version >= 5 };
    this.files.push(...fileTable(r, h.version, is64, strs));
    files.end = this.files.length;
    this.unitFiles.set(offset, files);
    r.pos = h.programStart;
    const fileIndex = (n: number) => files.base + n - (files.zeroBased ? 0 : 1);
    runProgram(r, h, rows, fileIndex, (name) => {
      this.files.push(name);
      files.end++;
    });
  }

  /**
   * File `index` of the line-program unit at `stmtList` (as DW_AT_call_file numbers it: from 0
   * in DWARF 5, from 1 before), named as the unit's rows name it.
   */
  unitFile(stmtList: number, index: number): string | undefined {
    const u = this.unitFiles.get(stmtList);
    if (u === undefined) return undefined;
    const at = u.base + index - (u.zeroBased ? 0 : 1);
    return at >= u.base && at < u.end ? this.files[at] : undefined;
  }

  /** The source line of a link-time address, or null when no row covers it. */
  lookup(vaddr: bigint): SourceLine | null {
    const v = Number(vaddr);
    let l = 0;
    let r = this.addrs.length - 1;
    let k = -1;
    while (l <= r) {
      const m = (l + r) >>> 1;
      if (this.addrs[m] <= v) {
        k = m;
        l = m + 1;
      } else {
        r = m - 1;
      }
    }
    // Several rows may share an address: the last one wins (as addr2line reports it). A row
    // ending a sequence (line 0) covers nothing.
    let j = k;
    while (j > 0 && this.lines[j] === 0 && this.addrs[j - 1] === this.addrs[k]) j--;
    if (j >= 0 && this.lines[j] !== 0) k = j;
    if (k < 0 || this.lines[k] === 0) return null;
    const file = this.files[this.fileIdx[k]];
    return file === undefined ? null : { file, line: this.lines[k] };
  }
}
