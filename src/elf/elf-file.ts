// A bounds-checked reader for ELF64 little-endian files (x86-64, aarch64): the file header,
// program headers (PT_LOAD, PT_NOTE) and section headers, read piecewise so that a 100 MB
// binary costs only the few kilobytes of headers plus whatever sections are asked for.
// Every count and offset in a header is untrusted: hostile or truncated files must produce
// an ElfError, never an out-of-range read, a huge allocation or a hang.
import * as fs from 'node:fs';
import { binding } from '../addon';

export class ElfError extends Error {
  override name = 'ElfError';
}

/** Where ELF bytes come from: an open file, or a buffer (e.g. the vdso read from memory). */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws ElfError when the range is outside the source. */
  read(offset: number, length: number): Buffer;
}

function checkRange(size: number, offset: number, length: number): void {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > size
  ) {
    throw new ElfError(`read of ${length} bytes at ${offset} is outside the ${size}-byte file`);
  }
}

/** Reads this long go to memory the kernel may back with huge pages (node's symbol tables: 2× faster). */
const LARGE_READ = 1 << 20;

export class FdSource implements ByteSource {
  readonly size: number;
  constructor(
    readonly fd: number,
    size?: number,
  ) {
    this.size = size ?? fs.fstatSync(fd).size;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this.size, offset, length);
    const buf = length >= LARGE_READ ? this.readLarge(offset, length) : this.readPlain(offset, length);
    if (buf.length < length) throw new ElfError(`file shorter than its size (${offset + buf.length} of ${this.size})`);
    return buf;
  }

  private readLarge(offset: number, length: number): Buffer {
    try {
      return binding.readFileRange(this.fd, offset, length);
    } catch {
      return this.readPlain(offset, length); // no address space for it: plain pages
    }
  }

  /** The bytes at offset, fewer where the file ends. */
  private readPlain(offset: number, length: number): Buffer {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, offset + done);
      if (n === 0) return buf.subarray(0, done);
      done += n;
    }
    return buf;
  }
}

export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(private readonly buf: Buffer) {
    this.size = buf.length;
  }
  read(offset: number, length: number): Buffer {
    checkRange(this.size, offset, length);
    return this.buf.subarray(offset, offset + length);
  }
}

// Constants from the ELF specification (elf.h).
export const ET_EXEC = 2;
export const ET_DYN = 3;
export const PT_LOAD = 1;
export const PT_NOTE = 4;
export const SHT_SYMTAB = 2;
export const SHT_STRTAB = 3;
export const SHT_NOTE = 7;
export const SHT_NOBITS = 8;
export const SHT_DYNSYM = 11;
export const SHF_EXECINSTR = 0x4;
/** e_machine values of the architectures stackshot unwinds. */
export const EM_X86_64 = 62;
export const EM_AARCH64 = 183;
/** Sizes of an Elf64_Sym and an Elf64_Rela. */
export const SYM_SIZE = 24;
export const RELA_SIZE = 24;
const SHN_XINDEX = 0xffff;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;

export interface LoadSegment {
  /** File range [offset, offset + filesz) is mapped at [vaddr, vaddr + filesz). */
  offset: bigint;
  filesz: bigint;
  vaddr: bigint;
  flags: number;
}

export interface NoteSegment {
  offset: number;
  size: number;
}

export interface SectionHeader {
  index: number;
  name: string;
  type: number;
  /** Low 32 bits of sh_flags (all defined flags live there). */
  flags: number;
  addr: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

/** A u64 file offset or size as a Number, or an ElfError if it cannot be one. */
function safeNumber(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError(`${what} out of range`);
  return Number(v);
}

/** Decodes a NUL-terminated string at `off` within `table`; '' when out of range. */
export function cString(table: Buffer, off: number, maxLength = 65536): string {
  if (off < 0 || off >= table.length) return '';
  const limit = Math.min(table.length, off + maxLength);
  let end = table.indexOf(0, off);
  if (end < 0 || end > limit) end = limit;
  return table.toString('utf8', off, end);
}

/** What ElfFile parses when it is made: the ELF header's fields, program and section headers. */
export interface ElfHeaders {
  readonly type: number;
  readonly machine: number;
  /** e_entry: the link-time address where the process starts (0 when the file has none). */
  readonly entry: bigint;
  readonly loads: LoadSegment[];
  readonly notes: NoteSegment[];
  readonly sections: SectionHeader[];
}

export class ElfFile implements ElfHeaders {
  readonly type: number;
  readonly machine: number;
  readonly entry: bigint;
  readonly loads: LoadSegment[] = [];
  readonly notes: NoteSegment[] = [];
  readonly sections: SectionHeader[] = [];

  /**
   * The file of `headers` again, over `source`: a file opened anew whose identity the caller
   * checked (the same bytes), whose headers need no second read and parse.
   */
  static reopened(headers: ElfHeaders, source: ByteSource): ElfFile {
    const elf: ElfFile = Object.create(ElfFile.prototype);
    return Object.assign(elf, { source, ...ElfFile.headersOf(headers) });
  }

  /** The parsed headers alone, without the source (which may be closed after). */
  static headersOf(h: ElfHeaders): ElfHeaders {
    return { type: h.type, machine: h.machine, entry: h.entry, loads: h.loads, notes: h.notes, sections: h.sections };
  }

  constructor(readonly source: ByteSource) {
    if (source.size < EHDR_SIZE) throw new ElfError('too small for an ELF header');
    const eh = source.read(0, EHDR_SIZE);
    if (eh.readUInt32BE(0) !== 0x7f454c46) throw new ElfError('not an ELF file');
    // Only ELF64 little-endian: the architectures stackshot unwinds (x86-64, aarch64).
    if (eh[4] !== 2) throw new ElfError('not ELF64');
    if (eh[5] !== 1) throw new ElfError('not little-endian');
    this.type = eh.readUInt16LE(16);
    this.machine = eh.readUInt16LE(18);
    this.entry = eh.readBigUInt64LE(24);
    const phoff = safeNumber(eh.readBigUInt64LE(32), 'e_phoff');
    const shoff = safeNumber(eh.readBigUInt64LE(40), 'e_shoff');
    const phentsize = eh.readUInt16LE(54);
    const phnum = eh.readUInt16LE(56);
    const shentsize = eh.readUInt16LE(58);
    let shnum = eh.readUInt16LE(60);
    let shstrndx = eh.readUInt16LE(62);

    if (phnum > 0) {
      if (phentsize < PHDR_SIZE) throw new ElfError('bad e_phentsize');
      const ph = source.read(phoff, phnum * phentsize);
      for (let i = 0; i < phnum; i++) {
        const o = i * phentsize;
        const type = ph.readUInt32LE(o);
        if (type === PT_LOAD) {
          this.loads.push({
            flags: ph.readUInt32LE(o + 4),
            offset: ph.readBigUInt64LE(o + 8),
            vaddr: ph.readBigUInt64LE(o + 16),
            filesz: ph.readBigUInt64LE(o + 32),
          });
        } else if (type === PT_NOTE) {
          const offset = ph.readBigUInt64LE(o + 8);
          const size = ph.readBigUInt64LE(o + 32);
          if (offset + size <= BigInt(source.size)) this.notes.push({ offset: Number(offset), size: Number(size) });
        }
      }
    }

    if (shoff !== 0) {
      if (shentsize < SHDR_SIZE) throw new ElfError('bad e_shentsize');
      // Extended numbering: with 65280+ sections the real count and string-table index
      // live in section 0.
      if (shnum === 0 || shstrndx === SHN_XINDEX) {
        const s0 = source.read(shoff, SHDR_SIZE);
        if (shnum === 0) shnum = safeNumber(s0.readBigUInt64LE(32), 'section count');
        if (shstrndx === SHN_XINDEX) shstrndx = s0.readUInt32LE(40);
      }
      // read() bounds the table by the file size, so a hostile count cannot allocate more.
      const sh = source.read(shoff, shnum * shentsize);
      for (let i = 0; i < shnum; i++) {
        const o = i * shentsize;
        const offset = sh.readBigUInt64LE(o + 24);
        const size = sh.readBigUInt64LE(o + 32);
        const entsize = sh.readBigUInt64LE(o + 56);
        this.sections.push({
          index: i,
          name: '',
          type: sh.readUInt32LE(o + 4),
          flags: sh.readUInt32LE(o + 8),
          addr: sh.readBigUInt64LE(o + 16),
          // Out-of-range values are clamped so that reading the section fails, not parsing.
          offset: offset > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(offset),
          size: size > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(size),
          link: sh.readUInt32LE(o + 40),
          info: sh.readUInt32LE(o + 44),
          entsize: entsize > 0xffffffffn ? 0xffffffff : Number(entsize),
        });
      }
      const strtab = this.sections[shstrndx];
      if (strtab !== undefined && strtab.type === SHT_STRTAB) {
        const names = this.sectionData(strtab);
        for (const s of this.sections) s.name = cString(names, sh.readUInt32LE(s.index * shentsize), 4096);
      }
    }
  }

  section(name: string): SectionHeader | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The bytes of a section (empty for SHT_NOBITS, e.g. .text in a separate debug file). */
  sectionData(s: SectionHeader): Buffer {
    if (s.type === SHT_NOBITS) return Buffer.alloc(0);
    return this.source.read(s.offset, s.size);
  }

  /**
   * The NUL-terminated string at `off` in string table `s`, read on its own: for a few names
   * out of a large table (node's .dynstr is 5 MB), cheaper than reading the whole section.
   * '' when out of range or unreadable.
   */
  stringAt(s: SectionHeader, off: number, maxLength = 4096): string {
    if (off < 0 || off >= s.size || s.type === SHT_NOBITS) return '';
    try {
      let chunk = Math.min(256, maxLength);
      for (;;) {
        const n = Math.min(chunk, s.size - off);
        const bytes = this.source.read(s.offset + off, n);
        const end = bytes.indexOf(0);
        if (end >= 0 || n === s.size - off || chunk >= maxLength) return bytes.toString('utf8', 0, end >= 0 ? end : n);
        chunk = maxLength;
      }
    } catch {
      return '';
    }
  }

  /**
   * Translates a file offset to the link-time virtual address through the PT_LOAD that
   * contains it. Each segment has its own offset→vaddr delta, so no single load bias is assumed.
   */
  fileOffsetToVaddr(fileOffset: bigint): bigint | undefined {
    return fileOffsetToVaddr(this.loads, fileOffset);
  }
}

/** See ElfFile.fileOffsetToVaddr; usable once only the segments are kept. */
export function fileOffsetToVaddr(loads: LoadSegment[], fileOffset: bigint): bigint | undefined {
  for (const l of loads) {
    if (fileOffset >= l.offset && fileOffset - l.offset < l.filesz) return fileOffset - l.offset + l.vaddr;
  }
  return undefined;
}
