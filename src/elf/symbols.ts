// The function-symbol table of one module: .symtab/.dynsym entries (possibly from several
// files: the binary and its separate debug file) merged into one address-sorted table with
// a binary-search lookup. Addresses are kept as two 32-bit halves in typed arrays so that a
// warm lookup compares plain Numbers (no BigInt allocation per probe) yet stays exact for the
// full 64-bit range. Names stay in their string tables and are decoded only when asked for.
import { cString, ElfFile, SectionHeader, SHF_EXECINSTR, SHT_DYNSYM, SHT_STRTAB, SHT_SYMTAB, SYM_SIZE } from './elf-file';

const STT_NOTYPE = 0;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const STB_LOCAL = 0;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
const TWO_32 = 4294967296;

/** One ELF symbol table section with its string table, ready to be merged. */
export interface SymbolSource {
  elf: ElfFile;
  symtab: SectionHeader;
}

/** The symbol tables of an ELF file, .symtab first (its names are the richest). */
export function symbolSources(elf: ElfFile): SymbolSource[] {
  const out: SymbolSource[] = [];
  for (const type of [SHT_SYMTAB, SHT_DYNSYM]) {
    for (const s of elf.sections) if (s.type === type) out.push({ elf, symtab: s });
  }
  return out;
}

/** Result of a lookup, reused between calls to avoid an allocation per pc. */
export interface SymbolHit {
  index: number;
  /** vaddr − symbol start. */
  offset: number;
}

/** Growable column store used while collecting; compacted into the final table. */
class Columns {
  n = 0;
  hi = new Uint32Array(1024);
  lo = new Uint32Array(1024);
  size = new Float64Array(1024);
  nameOff = new Uint32Array(1024);
  table = new Uint16Array(1024);
  /** Preference at equal address, lower is better: unsized, binding, leading underscores. */
  rank = new Uint32Array(1024);

  push(hi: number, lo: number, size: number, nameOff: number, table: number, rank: number): void {
    if (this.n === this.hi.length) this.grow();
    const i = this.n++;
    this.hi[i] = hi;
    this.lo[i] = lo;
    this.size[i] = size;
    this.nameOff[i] = nameOff;
    this.table[i] = table;
    this.rank[i] = rank;
  }

  private grow(): void {
    const cap = this.hi.length * 2;
    const g = <T extends Uint32Array | Float64Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.hi = g(this.hi, (n) => new Uint32Array(n));
    this.lo = g(this.lo, (n) => new Uint32Array(n));
    this.size = g(this.size, (n) => new Float64Array(n));
    this.nameOff = g(this.nameOff, (n) => new Uint32Array(n));
    this.table = g(this.table, (n) => new Uint16Array(n));
    this.rank = g(this.rank, (n) => new Uint32Array(n));
  }
}

function leadingUnderscores(table: Buffer, off: number): number {
  let n = 0;
  while (off + n < table.length && table[off + n] === 0x5f && n < 255) n++;
  return n;
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
  private readonly strtabs: Buffer[];
  private readonly names = new Map<number, string>();

  /** Merges function symbols from every source; duplicates at one address keep the best name. */
  constructor(sources: SymbolSource[]) {
    const cols = new Columns();
    const strtabs: Buffer[] = [];
    for (const src of sources) {
      try {
        collect(src, cols, strtabs);
      } catch {
        // A section whose bytes lie outside the file: the other tables still count.
      }
    }
    this.strtabs = strtabs;

    const n = cols.n;
    const { hi, lo, size, rank } = cols;
    // Order by (address, rank) with a stable LSD radix sort: a comparator sort of the ~200k
    // symbols of a large binary (node) costs ~60 ms, the radix passes a few. Stability keeps
    // the earlier source (.symtab before .dynsym) first at equal address and rank.
    let order: Uint32Array = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    for (const [column, shift] of [[rank, 0], [rank, 16], [lo, 0], [lo, 16], [hi, 0], [hi, 16]] as const) {
      order = radixPass(order, column, shift);
    }

    // Keep the first (best) symbol of each address.
    let m = 0;
    for (let k = 0; k < n; k++) {
      const i = order[k];
      if (m > 0) {
        const p = order[m - 1];
        if (hi[p] === hi[i] && lo[p] === lo[i]) continue;
      }
      order[m++] = i;
    }

    this.length = m;
    this.hi = new Uint32Array(m);
    this.lo = new Uint32Array(m);
    this.size = new Float64Array(m);
    this.nameOff = new Uint32Array(m);
    this.table = new Uint16Array(m);
    this.parent = new Int32Array(m);
    for (let k = 0; k < m; k++) {
      const i = order[k];
      this.hi[k] = hi[i];
      this.lo[k] = lo[i];
      this.size[k] = size[i];
      this.nameOff[k] = cols.nameOff[i];
      this.table[k] = cols.table[i];
    }

    // Enclosing-symbol links, so an address past the end of a nested symbol (a cold part,
    // an alias of a sub-range) still finds the symbol around it. Stack of open ranges.
    const stack: number[] = [];
    for (let k = 0; k < m; k++) {
      while (stack.length > 0 && this.distance(stack[stack.length - 1], this.hi[k], this.lo[k]) >= this.size[stack[stack.length - 1]]) stack.pop();
      this.parent[k] = stack.length > 0 ? stack[stack.length - 1] : -1;
      if (this.size[k] > 0) stack.push(k);
    }
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

  name(index: number): string {
    let s = this.names.get(index);
    if (s === undefined) {
      s = cString(this.strtabs[this.table[index]], this.nameOff[index]);
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

/** One stable counting-sort pass of `order` on the 16-bit digit of column at shift. */
function radixPass(order: Uint32Array, column: Uint32Array, shift: number): Uint32Array {
  const n = order.length;
  const counts = new Uint32Array(65537);
  for (let k = 0; k < n; k++) counts[((column[order[k]] >>> shift) & 0xffff) + 1]++;
  // All keys share this digit (e.g. the high half of every user-space address): skip.
  for (let d = 1; d <= 65536; d++) if (counts[d] === n) return order;
  for (let d = 1; d <= 65536; d++) counts[d] += counts[d - 1];
  const out = new Uint32Array(n);
  for (let k = 0; k < n; k++) {
    const i = order[k];
    out[counts[(column[i] >>> shift) & 0xffff]++] = i;
  }
  return out;
}

/** Appends the function symbols of one section to cols. Malformed sections are skipped. */
function collect(src: SymbolSource, cols: Columns, strtabs: Buffer[]): void {
  const { elf, symtab } = src;
  if (symtab.entsize !== SYM_SIZE && symtab.entsize !== 0) return;
  const strHeader = elf.sections[symtab.link];
  if (strHeader === undefined || strHeader.type !== SHT_STRTAB) return;
  const syms = elf.sectionData(symtab);
  const strs = elf.sectionData(strHeader);
  if (strs.length === 0 || syms.length < SYM_SIZE) return;
  const tableIndex = strtabs.length;
  strtabs.push(strs);

  const sections = elf.sections;
  const count = Math.floor(syms.length / SYM_SIZE);
  // DataView reads inline in V8; Buffer.readUInt32LE calls do not (3x slower on node's table).
  const v = new DataView(syms.buffer, syms.byteOffset, count * SYM_SIZE);
  for (let i = 1; i < count; i++) {
    const o = i * SYM_SIZE;
    const info = v.getUint8(o + 4);
    const type = info & 0xf;
    const bind = info >> 4;
    const shndx = v.getUint16(o + 6, true);
    if (shndx === SHN_UNDEF) continue; // imports: defined elsewhere
    if (type !== STT_FUNC && type !== STT_GNU_IFUNC && type !== STT_NOTYPE) continue;
    const sizeHi = v.getUint32(o + 20, true);
    // Sizes beyond 2^53 are nonsense; treat as unsized rather than lose precision.
    const size = sizeHi >= 0x200000 ? 0 : sizeHi * TWO_32 + v.getUint32(o + 16, true);
    if (type === STT_NOTYPE) {
      // Assembly routines often lack a type; accept them when sized and in code.
      if (size === 0 || shndx >= SHN_LORESERVE) continue;
      const sec = sections[shndx];
      if (sec === undefined || (sec.flags & SHF_EXECINSTR) === 0) continue;
    }
    const nameOff = v.getUint32(o, true);
    if (nameOff === 0 || nameOff >= strs.length || strs[nameOff] === 0) continue;
    const bindRank = bind === STB_LOCAL ? 2 : bind === STB_WEAK ? 1 : 0; // GLOBAL, GNU_UNIQUE
    const rank = ((size === 0 ? 1 : 0) << 16) | (bindRank << 8) | leadingUnderscores(strs, nameOff);
    cols.push(v.getUint32(o + 12, true), v.getUint32(o + 8, true), size, nameOff, tableIndex, rank);
  }
}
