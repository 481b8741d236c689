// The function-symbol table of one module: .symtab/.dynsym entries (possibly from several
// files: the binary and its separate debug file) merged into one address-sorted table with
// a binary-search lookup. The merge runs natively (see native/symbols/symbol_index.h: it is
// the cold path's biggest cost). Addresses are kept as two 32-bit halves in typed arrays so
// that a warm lookup compares plain Numbers (no BigInt allocation per probe) yet stays exact
// for the full 64-bit range. Names stay in their string tables, decoded only when asked for.
import { binding, type RawSymbolIndex, type RawSymbolSection } from '../addon';
import { ElfFile, SectionHeader, SHF_EXECINSTR, SHT_DYNSYM, SHT_STRTAB, SHT_SYMTAB, SYM_SIZE } from './elf-file';
import { bufferStrings, FileStrings, type StringTable } from './file-strings';

const TWO_32 = 4294967296;

/** One ELF symbol table section with its string table, ready to be merged. */
export interface SymbolSource {
  elf: ElfFile;
  symtab: SectionHeader;
}

/**
 * The symbol table to name a file's functions by: .symtab when it has one (it holds every
 * .dynsym function too, and more), else .dynsym. Reading both would double the work on a large
 * binary (node: 110k + 75k entries) for no extra name, and perf reads just the one too.
 */
export function symbolSources(elf: ElfFile): SymbolSource[] {
  for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
    const found = elf.sections.filter((s) => s.type === type);
    if (found.length > 0) return found.map((symtab) => ({ elf, symtab }));
  }
  return [];
}

/** Result of a lookup, reused between calls to avoid an allocation per pc. */
export interface SymbolHit {
  index: number;
  /** vaddr − symbol start. */
  offset: number;
}

/** A source's bytes as the native merge takes them (its names stay readable here). */
type Section = RawSymbolSection & { strs: Buffer };

/** The string table of a symbol source: its section index, or undefined when it has none. */
export function stringTableOf(src: SymbolSource): number | undefined {
  const strHeader = src.elf.sections[src.symtab.link];
  return strHeader === undefined || strHeader.type !== SHT_STRTAB ? undefined : src.symtab.link;
}

/** A table built before (the persistent module cache): its index, its string tables (read
 *  lazily from their files, see FileStrings), and which sources they are (see SymbolTable.sourcesUsed). */
export interface PrebuiltSymbols {
  index: RawSymbolIndex;
  strtabs: StringTable[];
  sourcesUsed: number[];
}

/** A source's bytes as the native merge takes them; null when the section is unusable. */
function rawSection(src: SymbolSource): Section | null {
  const { elf, symtab } = src;
  if (symtab.entsize !== SYM_SIZE && symtab.entsize !== 0) return null;
  const link = stringTableOf(src);
  if (link === undefined) return null;
  const strHeader = elf.sections[link]!;
  try {
    const exec = new Uint8Array(elf.sections.length);
    elf.sections.forEach((sec, i) => (exec[i] = (sec.flags & SHF_EXECINSTR) === 0 ? 0 : 1));
    return { syms: elf.sectionData(symtab), strs: elf.sectionData(strHeader), exec };
  } catch {
    return null; // a section whose bytes lie outside the file: the other tables still count
  }
}

export class SymbolTable {
  readonly length: number;
  private readonly hi: Uint32Array;
  private readonly lo: Uint32Array;
  private readonly size: Float64Array;
  private readonly nameOff: Uint32Array;
  private readonly table: Uint16Array;
  /** Index of the nearest earlier symbol whose range encloses this one's start, or -1. */
  private readonly parent: Int32Array;
  private readonly strtabs: StringTable[];
  private readonly names = new Map<number, string>();
  /** Which of the constructor's sources the string tables (column `table`) are, in order. */
  readonly sourcesUsed: readonly number[];

  /**
   * Merges function symbols from every source; duplicates at one address keep the best name.
   * `prebuilt` (the module cache) skips the merge: its index was built from these sources.
   */
  constructor(sources: SymbolSource[], prebuilt?: PrebuiltSymbols) {
    let idx: RawSymbolIndex;
    if (prebuilt !== undefined) {
      idx = prebuilt.index;
      this.strtabs = prebuilt.strtabs;
      this.sourcesUsed = prebuilt.sourcesUsed;
    } else {
      const raw = sources
        .map((src, i) => ({ i, r: rawSection(src) }))
        .filter((x): x is { i: number; r: Section } => {
          return x.r !== null && x.r.strs.length > 0 && x.r.syms.length >= SYM_SIZE;
        });
      idx = binding.buildSymbolIndex(raw.map((x) => x.r));
      this.strtabs = raw.map((x) => bufferStrings(x.r.strs));
      this.sourcesUsed = raw.map((x) => x.i);
    }
    this.length = idx.hi.length;
    this.hi = idx.hi;
    this.lo = idx.lo;
    this.size = idx.size;
    this.nameOff = idx.nameOff;
    this.table = idx.table;
    this.parent = idx.parent;
  }

  /**
   * qh:ql − start of symbol k as a Number: exact whenever it is below 2^53 (so whenever it
   * can be within a symbol's size), and never 0 or small when the true distance is large.
   */
  private distance(k: number, qh: number, ql: number): number {
    return (qh - this.hi[k]) * TWO_32 + (ql - this.lo[k]);
  }

  /**
   * The symbol containing vaddr: start <= vaddr < start + size, or start == vaddr for a
   * size-0 symbol. Fills `hit` and returns true when found.
   */
  lookup(vaddr: bigint, hit: SymbolHit): boolean {
    const qh = Number(vaddr >> 32n);
    const ql = Number(BigInt.asUintN(32, vaddr));
    const hiA = this.hi;
    const loA = this.lo;
    let l = 0;
    let r = this.length - 1;
    let k = -1;
    while (l <= r) {
      const mid = (l + r) >>> 1;
      const h = hiA[mid];
      if (h < qh || (h === qh && loA[mid] <= ql)) {
        k = mid;
        l = mid + 1;
      } else {
        r = mid - 1;
      }
    }
    while (k >= 0) {
      const d = this.distance(k, qh, ql);
      const s = this.size[k];
      if (d < s || d === 0) {
        hit.index = k;
        hit.offset = d;
        return true;
      }
      k = this.parent[k];
    }
    return false;
  }

  /** The index columns, as the module cache stores them. */
  get index(): RawSymbolIndex {
    const { hi, lo, size, nameOff, table, parent } = this;
    return { hi, lo, size, nameOff, table, parent };
  }

  /** The string tables' lengths, in `table` order (the module cache checks them on reuse). */
  get stringTableLengths(): number[] {
    return this.strtabs.map((t) => t.length);
  }

  /** About how much memory the table holds: its string tables (those in memory) and index columns. */
  get bytes(): number {
    return this.strtabs.reduce((n, t) => n + (t instanceof FileStrings ? 0 : t.length), 0) + this.length * 30;
  }

  /** Closes the files names are read from; the table names nothing after. */
  close(): void {
    for (const t of this.strtabs) if (t instanceof FileStrings) t.close();
  }

  name(index: number): string {
    let s = this.names.get(index);
    if (s === undefined) {
      s = this.strtabs[this.table[index]].cString(this.nameOff[index]);
      // .symtab keeps .symver names literally ('__libc_start_main@@GLIBC_2.34'); the version
      // is linkage detail, not part of the function's name.
      const at = s.indexOf('@');
      if (at > 0) s = s.slice(0, at);
      this.names.set(index, s);
    }
    return s;
  }

  start(index: number): bigint {
    return (BigInt(this.hi[index]) << 32n) | BigInt(this.lo[index]);
  }

  symbolSize(index: number): number {
    return this.size[index];
  }
}
