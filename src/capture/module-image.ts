// A module's reduced image: the small ELF file a capture embeds (--embed-modules) in place of
// a mapped file, holding just what unwinding and naming read from it: the file's PT_LOAD
// headers (file offsets to link-time addresses), its entry point, its unwind sections
// (.eh_frame, .eh_frame_hdr at their addresses, .debug_frame) and its function symbols as
// merged from every source (.symtab, a separate debug file, MiniDebugInfo) into one .symtab.
// Offline it is parsed back by the same bounds-checked reader and module loader as any file
// (module-cache.ts), so an embedded module is read exactly like a real one, and a forged one
// is no more dangerous than a hostile library.
import type { CfiSections } from '../addon';
import type { ElfFile, LoadSegment } from '../elf/elf-file';
import type { SymbolTable } from '../elf/symbols';

const EHDR = 64;
const PHDR = 56;
const SHDR = 64;
const SYM = 24;
const PT_LOAD = 1;
const SHT_PROGBITS = 1;
const SHT_SYMTAB = 2;
const SHT_STRTAB = 3;
const SHT_NOBITS = 8;
const SHF_ALLOC = 0x2;
const SHF_EXECINSTR = 0x4;
/** st_info of a global function symbol. */
const GLOBAL_FUNC = (1 << 4) | 2;

interface Section {
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  data: Buffer;
  link?: number;
  entsize?: number;
}

/** .symtab and .strtab of the merged symbols, all in section `code` (a NOBITS .text). */
function symbolTables(symbols: SymbolTable | null, code: number): { syms: Buffer; strs: Buffer } {
  const n = symbols?.length ?? 0;
  const syms = Buffer.alloc((n + 1) * SYM); // entry 0: the null symbol
  const names: Buffer[] = [Buffer.from([0])];
  let strOff = 1;
  for (let i = 0; i < n; i++) {
    const s = symbols as SymbolTable;
    const name = Buffer.from(`${s.name(i)}\0`, 'utf8');
    const o = (i + 1) * SYM;
    syms.writeUInt32LE(strOff, o);
    syms[o + 4] = GLOBAL_FUNC;
    syms.writeUInt16LE(code, o + 6);
    syms.writeBigUInt64LE(s.start(i), o + 8);
    syms.writeBigUInt64LE(BigInt(s.symbolSize(i)), o + 16);
    names.push(name);
    strOff += name.length;
  }
  return { syms, strs: Buffer.concat(names) };
}

function sectionsOf(cfi: CfiSections | undefined, symbols: SymbolTable | null): Section[] {
  const none = Buffer.alloc(0);
  const out: Section[] = [{ name: '', type: 0, flags: 0, addr: 0n, data: none }];
  if (cfi?.ehFrame !== undefined)
    out.push({
      name: '.eh_frame',
      type: SHT_PROGBITS,
      flags: SHF_ALLOC,
      addr: cfi.ehFrameVaddr ?? 0n,
      data: cfi.ehFrame,
    });
  if (cfi?.ehFrameHdr !== undefined)
    out.push({
      name: '.eh_frame_hdr',
      type: SHT_PROGBITS,
      flags: SHF_ALLOC,
      addr: cfi.ehFrameHdrVaddr ?? 0n,
      data: cfi.ehFrameHdr,
    });
  if (cfi?.debugFrame !== undefined)
    out.push({ name: '.debug_frame', type: SHT_PROGBITS, flags: 0, addr: 0n, data: cfi.debugFrame });
  const code = out.length;
  out.push({ name: '.text', type: SHT_NOBITS, flags: SHF_ALLOC | SHF_EXECINSTR, addr: 0n, data: none });
  const { syms, strs } = symbolTables(symbols, code);
  out.push({ name: '.symtab', type: SHT_SYMTAB, flags: 0, addr: 0n, data: syms, link: out.length + 1, entsize: SYM });
  out.push({ name: '.strtab', type: SHT_STRTAB, flags: 0, addr: 0n, data: strs });
  return out;
}

function programHeaders(loads: LoadSegment[]): Buffer {
  const ph = Buffer.alloc(loads.length * PHDR);
  loads.forEach((l, i) => {
    const o = i * PHDR;
    ph.writeUInt32LE(PT_LOAD, o);
    ph.writeUInt32LE(l.flags, o + 4);
    ph.writeBigUInt64LE(l.offset, o + 8);
    ph.writeBigUInt64LE(l.vaddr, o + 16);
    ph.writeBigUInt64LE(l.vaddr, o + 24);
    ph.writeBigUInt64LE(l.filesz, o + 32);
    ph.writeBigUInt64LE(l.filesz, o + 40);
  });
  return ph;
}

/**
 * The reduced image of `elf` (the mapped file), given the module parsed from it: its symbols
 * (merged from all sources) and its unwind sections (unwind-table.ts unwindSections).
 */
export function moduleImage(elf: ElfFile, symbols: SymbolTable | null, cfi: CfiSections | undefined): Buffer {
  const sections = sectionsOf(cfi, symbols);
  const shstrtab: Buffer[] = [];
  let nameOff = 0;
  const nameOffsets = [...sections, { name: '.shstrtab' }].map((s) => {
    const off = nameOff;
    shstrtab.push(Buffer.from(`${s.name}\0`, 'latin1'));
    nameOff += s.name.length + 1;
    return off;
  });
  sections.push({ name: '.shstrtab', type: SHT_STRTAB, flags: 0, addr: 0n, data: Buffer.concat(shstrtab) });
  const ph = programHeaders(elf.loads);
  const offsets: number[] = [];
  let at = EHDR + ph.length;
  for (const s of sections) {
    offsets.push(s.type === SHT_NOBITS ? 0 : at);
    if (s.type !== SHT_NOBITS) at += s.data.length;
  }
  const shoff = (at + 7) & ~7;
  const image = Buffer.alloc(shoff + sections.length * SHDR);
  image.writeUInt32BE(0x7f454c46, 0);
  image[4] = 2; // ELFCLASS64
  image[5] = 1; // little-endian
  image[6] = 1; // EV_CURRENT
  image.writeUInt16LE(elf.type, 16);
  image.writeUInt16LE(elf.machine, 18);
  image.writeUInt32LE(1, 20);
  image.writeBigUInt64LE(elf.entry, 24);
  image.writeBigUInt64LE(BigInt(EHDR), 32); // e_phoff
  image.writeBigUInt64LE(BigInt(shoff), 40);
  image.writeUInt16LE(EHDR, 52);
  image.writeUInt16LE(PHDR, 54);
  image.writeUInt16LE(elf.loads.length, 56);
  image.writeUInt16LE(SHDR, 58);
  image.writeUInt16LE(sections.length, 60);
  image.writeUInt16LE(sections.length - 1, 62); // .shstrtab is last
  ph.copy(image, EHDR);
  sections.forEach((s, i) => {
    if (s.type !== SHT_NOBITS) s.data.copy(image, offsets[i]);
    const o = shoff + i * SHDR;
    image.writeUInt32LE(nameOffsets[i], o);
    image.writeUInt32LE(s.type, o + 4);
    image.writeBigUInt64LE(BigInt(s.flags), o + 8);
    image.writeBigUInt64LE(s.addr, o + 16);
    image.writeBigUInt64LE(BigInt(offsets[i]), o + 24);
    image.writeBigUInt64LE(BigInt(s.data.length), o + 32);
    image.writeUInt32LE(s.link ?? 0, o + 40);
    image.writeBigUInt64LE(BigInt(s.entsize ?? 0), o + 56);
  });
  return image;
}
