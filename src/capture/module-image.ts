// A module's reduced image: the small ELF file a capture embeds (--embed-modules) in place of
// a mapped file, holding just what unwinding and naming read from it: the file's PT_LOAD
// headers (file offsets to link-time addresses), its entry point, its unwind sections
// (.eh_frame, .eh_frame_hdr at their addresses, .debug_frame) and its function symbols as
// merged from every source (.symtab, a separate debug file, MiniDebugInfo) into one .symtab,
// and its PLT stubs (in `.stackshot.plt`: they have no symbols, and finding them needs
// relocation sections the image leaves out).
// Offline it is parsed back by the same bounds-checked reader and module loader as any file
// (module-cache.ts), so an embedded module is read exactly like a real one, and a forged one
// is no more dangerous than a hostile library.
import type { CfiSections } from '../addon';
import { cString, type ElfFile, type LoadSegment } from '../elf/elf-file';
import type { PltStub } from '../elf/plt';
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
/** A PLT stub in `.stackshot.plt`: vaddr (u64), size (u32), name offset in .strtab (u32). */
const PLT_SECTION = '.stackshot.plt';
const PLT_ENTRY = 16;
/** Far more stubs than any real module has (node: ~2,000). */
const MAX_PLT_STUBS = 1 << 20;
/** A stub is 16 bytes on x86-64 and aarch64. */
const MAX_STUB_SIZE = 64;

interface Section {
  name: string;
  type: number;
  flags: number;
  addr: bigint;
  data: Buffer;
  link?: number;
  entsize?: number;
}

/** Names in a string table under construction: the offset of each as it is added. */
class StringTable {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private size = 1;

  add(name: string): number {
    const bytes = Buffer.from(`${name}\0`, 'utf8');
    this.parts.push(bytes);
    this.size += bytes.length;
    return this.size - bytes.length;
  }

  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** The .symtab of the merged symbols, all in section `code` (a NOBITS .text). */
function symbolTable(symbols: SymbolTable | null, code: number, strs: StringTable): Buffer {
  const n = symbols?.length ?? 0;
  const syms = Buffer.alloc((n + 1) * SYM); // entry 0: the null symbol
  for (let i = 0; i < n; i++) {
    const s = symbols as SymbolTable;
    const o = (i + 1) * SYM;
    syms.writeUInt32LE(strs.add(s.name(i)), o);
    syms[o + 4] = GLOBAL_FUNC;
    syms.writeUInt16LE(code, o + 6);
    syms.writeBigUInt64LE(s.start(i), o + 8);
    syms.writeBigUInt64LE(BigInt(s.symbolSize(i)), o + 16);
  }
  return syms;
}

function pltTable(stubs: PltStub[], strs: StringTable): Buffer {
  const out = Buffer.alloc(stubs.length * PLT_ENTRY);
  stubs.forEach((s, i) => {
    out.writeBigUInt64LE(s.vaddr, i * PLT_ENTRY);
    out.writeUInt32LE(s.size, i * PLT_ENTRY + 8);
    out.writeUInt32LE(strs.add(s.name), i * PLT_ENTRY + 12);
  });
  return out;
}

function sectionsOf(cfi: CfiSections | undefined, symbols: SymbolTable | null, plt: PltStub[]): Section[] {
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
  const strs = new StringTable();
  const syms = symbolTable(symbols, code, strs);
  const stubs = pltTable(plt, strs);
  const strtab = out.length + 1;
  out.push({ name: '.symtab', type: SHT_SYMTAB, flags: 0, addr: 0n, data: syms, link: strtab, entsize: SYM });
  out.push({ name: '.strtab', type: SHT_STRTAB, flags: 0, addr: 0n, data: strs.bytes() });
  out.push({
    name: PLT_SECTION,
    type: SHT_PROGBITS,
    flags: 0,
    addr: 0n,
    data: stubs,
    link: strtab,
    entsize: PLT_ENTRY,
  });
  return out;
}

/**
 * The PLT stubs an image holds, checked (it may be forged): whole entries, a bounded count,
 * plausible sizes, names inside the string table. Sorted by address, as findPltStub needs.
 */
export function imagePltStubs(image: ElfFile): PltStub[] {
  const sec = image.section(PLT_SECTION);
  const strSec = sec === undefined ? undefined : image.sections[sec.link];
  if (sec === undefined || strSec === undefined || strSec.type !== SHT_STRTAB) return [];
  if (sec.size % PLT_ENTRY !== 0 || sec.size / PLT_ENTRY > MAX_PLT_STUBS) return [];
  const data = image.sectionData(sec);
  const strs = image.sectionData(strSec);
  const stubs: PltStub[] = [];
  for (let o = 0; o < data.length; o += PLT_ENTRY) {
    const size = data.readUInt32LE(o + 8);
    const name = cString(strs, data.readUInt32LE(o + 12), 4096);
    if (size === 0 || size > MAX_STUB_SIZE || name === '') continue;
    stubs.push({ vaddr: data.readBigUInt64LE(o), size, name });
  }
  return stubs.sort((a, b) => (a.vaddr < b.vaddr ? -1 : a.vaddr > b.vaddr ? 1 : 0));
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
 * (merged from all sources), its unwind sections (unwind-table.ts unwindSections) and its PLT
 * stubs.
 */
export function moduleImage(
  elf: ElfFile,
  symbols: SymbolTable | null,
  cfi: CfiSections | undefined,
  plt: PltStub[],
): Buffer {
  const sections = sectionsOf(cfi, symbols, plt);
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
