// The compiler command line a module was built with, where the build recorded it:
//   - DW_AT_producer of a compile unit in .debug_info (gcc -g records the code-generation
//     flags there: "GNU C11 12.2.0 -mtune=generic -march=x86-64 -g -O2 ..."),
//   - the .GCC.command.line section (gcc -frecord-gcc-switches).
// Only the first DIE of a few compile units is decoded; this is not a DWARF reader.
// Compressed sections are read through dwarf/sections.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cString, ElfError, ElfFile, FdSource, SHT_NOBITS, type SectionHeader } from '../elf/elf-file';
import { DwarfReader } from '../dwarf/reader';
import { sectionBytes, sectionPrefix } from '../dwarf/sections';

export { sectionPrefix };

/** The entries of .GCC.command.line (NUL-separated strings), or null when absent. */
export function readGccCommandLine(elf: ElfFile): string[] | null {
  const s = elf.section('.GCC.command.line');
  if (s === undefined) return null;
  const data = sectionPrefix(elf, s, 1 << 20);
  const entries = new Set<string>();
  for (const part of data.toString('utf8').split('\0')) if (part.trim() !== '') entries.add(part.trim());
  return [...entries];
}

interface AbbrevAttr {
  attr: number;
  form: number;
}

/** The attribute list of abbreviation `code` in the table at `offset`, or undefined. */
function findAbbrev(abbrev: Buffer, offset: number, code: number): { tag: number; attrs: AbbrevAttr[] } | undefined {
  const r = new DwarfReader(abbrev, offset);
  for (let guard = 0; guard < 100_000; guard++) {
    const c = r.uleb();
    if (c === 0) return undefined;
    const tag = r.uleb();
    r.u8(); // children
    const attrs: AbbrevAttr[] = [];
    for (;;) {
      const attr = r.uleb();
      const form = r.uleb();
      if (attr === 0 && form === 0) break;
      if (form === 0x21) r.sleb(); // DW_FORM_implicit_const: value lives here
      attrs.push({ attr, form });
    }
    if (c === code) return { tag, attrs };
  }
  return undefined;
}

const DW_AT_producer = 0x25;
const DW_AT_str_offsets_base = 0x72;
const DW_TAG_compile_unit = 0x11;
const DW_TAG_partial_unit = 0x3c;

/** How the producer string is stored, resolved once the whole DIE has been read. */
type StringRef =
  | { kind: 'inline'; value: string }
  | { kind: 'strp'; offset: number }
  | { kind: 'line_strp'; offset: number }
  | { kind: 'strx'; index: number }
  | { kind: 'alt'; offset: number };

interface UnitContext {
  version: number;
  offsetSize: number;
  addrSize: number;
}

/** Reads (or skips) one attribute value of `form`. Returns a string ref for string forms. */
function readForm(r: DwarfReader, form: number, u: UnitContext): StringRef | number | undefined {
  switch (form) {
    case 0x01: return r.uN(u.addrSize); // addr
    case 0x03: r.skip(r.u16()); return undefined; // block2
    case 0x04: r.skip(r.u32()); return undefined; // block4
    case 0x05: return r.u16(); // data2
    case 0x06: return r.u32(); // data4
    case 0x07: return r.u64(); // data8
    case 0x08: return { kind: 'inline', value: r.cstr() }; // string
    case 0x09: r.skip(r.uleb()); return undefined; // block
    case 0x0a: r.skip(r.u8()); return undefined; // block1
    case 0x0b: return r.u8(); // data1
    case 0x0c: return r.u8(); // flag
    case 0x0d: r.sleb(); return undefined; // sdata
    case 0x0e: return { kind: 'strp', offset: r.uN(u.offsetSize) };
    case 0x0f: return r.uleb(); // udata
    case 0x10: return r.uN(u.version <= 2 ? u.addrSize : u.offsetSize); // ref_addr
    case 0x11: return r.u8();
    case 0x12: return r.u16();
    case 0x13: return r.u32();
    case 0x14: return r.u64();
    case 0x15: return r.uleb(); // ref_udata
    case 0x16: return readForm(r, r.uleb(), u); // indirect
    case 0x17: return r.uN(u.offsetSize); // sec_offset
    case 0x18: r.skip(r.uleb()); return undefined; // exprloc
    case 0x19: return undefined; // flag_present
    case 0x1a: return { kind: 'strx', index: r.uleb() };
    case 0x1b: return r.uleb(); // addrx
    case 0x1c: return r.u32(); // ref_sup4
    case 0x1d: r.uN(u.offsetSize); return undefined; // strp_sup
    case 0x1e: r.skip(16); return undefined; // data16
    case 0x1f: return { kind: 'line_strp', offset: r.uN(u.offsetSize) };
    case 0x20: r.skip(8); return undefined; // ref_sig8
    case 0x21: return undefined; // implicit_const
    case 0x22: case 0x23: return r.uleb(); // loclistx, rnglistx
    case 0x24: r.skip(8); return undefined; // ref_sup8
    case 0x25: return { kind: 'strx', index: r.u8() };
    case 0x26: return { kind: 'strx', index: r.u16() };
    case 0x27: return { kind: 'strx', index: r.uN(3) };
    case 0x28: return { kind: 'strx', index: r.u32() };
    case 0x29: return r.u8(); // addrx1..4
    case 0x2a: return r.u16();
    case 0x2b: return r.uN(3);
    case 0x2c: return r.u32();
    case 0x1f01: case 0x1f02: return r.uleb(); // GNU_addr_index, GNU_str_index
    case 0x1f20: return r.uN(u.offsetSize); // GNU_ref_alt
    case 0x1f21: return { kind: 'alt', offset: r.uN(u.offsetSize) }; // GNU_strp_alt (dwz)
    default:
      throw new ElfError(`DWARF: unknown form 0x${form.toString(16)}`);
  }
}

/** A string at `offset` in a string section, reading only what is needed. */
function stringAt(elf: ElfFile, name: string, offset: number): string | null {
  const s = elf.section(name);
  if (s === undefined) return null;
  const data = sectionPrefix(elf, s, offset + 8192);
  return offset < data.length ? cString(data, offset, 8192) : null;
}

/** The string a dwz alternate file (.gnu_debugaltlink) holds at `offset` in its .debug_str. */
function altString(elf: ElfFile, filePath: string | undefined, offset: number): string | null {
  const link = elf.section('.gnu_debugaltlink');
  if (link === undefined) return null;
  let name = cString(sectionPrefix(elf, link, 4096), 0, 4096);
  if (name === '') return null;
  if (!name.startsWith('/')) {
    if (filePath === undefined) return null;
    name = path.join(path.dirname(filePath), name);
  }
  let fd: number;
  try {
    fd = fs.openSync(name, 'r');
  } catch {
    return null;
  }
  try {
    return stringAt(new ElfFile(new FdSource(fd)), '.debug_str', offset);
  } finally {
    fs.closeSync(fd);
  }
}

function resolveString(elf: ElfFile, filePath: string | undefined, ref: StringRef, strOffsetsBase: number | undefined, u: UnitContext): string | null {
  switch (ref.kind) {
    case 'inline':
      return ref.value;
    case 'strp':
      return stringAt(elf, '.debug_str', ref.offset);
    case 'line_strp':
      return stringAt(elf, '.debug_line_str', ref.offset);
    case 'alt':
      return altString(elf, filePath, ref.offset);
    case 'strx': {
      const so = elf.section('.debug_str_offsets');
      if (so === undefined) return null;
      // DWARF 5: the base points past the table's header (8 bytes in 32-bit DWARF).
      const base = strOffsetsBase ?? (u.offsetSize === 8 ? 16 : 8);
      const at = base + ref.index * u.offsetSize;
      const table = sectionPrefix(elf, so, at + u.offsetSize);
      if (at + u.offsetSize > table.length) return null;
      return stringAt(elf, '.debug_str', new DwarfReader(table, at).uN(u.offsetSize));
    }
  }
}

const INFO_PREFIX = 4 << 20;
const MAX_UNITS = 256;

/**
 * DW_AT_producer of the first compile unit that is not assembly ("GNU AS ..."), else of the
 * first compile unit; null when there is no .debug_info or no producer. Throws ElfError on
 * malformed DWARF or unsupported compression.
 */
export function readProducer(elf: ElfFile, filePath?: string): string | null {
  const infoSec = elf.section('.debug_info');
  const abbrevSec = elf.section('.debug_abbrev');
  if (infoSec === undefined || abbrevSec === undefined || infoSec.type === SHT_NOBITS) return null;
  const info = sectionPrefix(elf, infoSec, INFO_PREFIX);
  let abbrev: Buffer | undefined;
  let first: string | null = null;
  let pos = 0;
  for (let n = 0; n < MAX_UNITS && pos + 11 <= info.length; n++) {
    const r = new DwarfReader(info, pos);
    let length = r.u32();
    let offsetSize = 4;
    if (length === 0xffffffff) {
      length = r.u64();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) {
      throw new ElfError('DWARF: reserved unit length');
    }
    const unitEnd = r.pos + length;
    const version = r.u16();
    if (version < 2 || version > 5) throw new ElfError(`DWARF: version ${version}`);
    let addrSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      const unitType = r.u8();
      addrSize = r.u8();
      abbrevOffset = r.uN(offsetSize);
      if (unitType === 2 || unitType === 6) r.skip(8 + offsetSize); // type units
      else if (unitType === 4 || unitType === 5) r.skip(8); // skeleton / split: dwo_id
    } else {
      abbrevOffset = r.uN(offsetSize);
      addrSize = r.u8();
    }
    if (unitEnd > info.length && n > 0) break; // the next unit lies past the prefix we read
    const u: UnitContext = { version, offsetSize, addrSize };
    const code = r.uleb();
    abbrev ??= sectionBytes(elf, abbrevSec, 64 << 20);
    const ab = code === 0 ? undefined : findAbbrev(abbrev, abbrevOffset, code);
    if (ab !== undefined && (ab.tag === DW_TAG_compile_unit || ab.tag === DW_TAG_partial_unit)) {
      let producer: StringRef | undefined;
      let strOffsetsBase: number | undefined;
      for (const a of ab.attrs) {
        const v = readForm(r, a.form, u);
        if (a.attr === DW_AT_producer && typeof v === 'object') producer = v;
        else if (a.attr === DW_AT_str_offsets_base && typeof v === 'number') strOffsetsBase = v;
      }
      if (producer !== undefined) {
        const s = resolveString(elf, filePath, producer, strOffsetsBase, u);
        if (s !== null && s !== '') {
          if (!/^GNU AS\b|^clang.*assembler/i.test(s) && !/\bAS \d/.test(s)) return s;
          first ??= s;
        }
      }
    }
    if (unitEnd <= pos) break;
    pos = unitEnd;
  }
  return first;
}

/**
 * The frame-pointer flag a command line leaves in effect: the last of -fno-omit-frame-pointer
 * ('on') and -fomit-frame-pointer ('off'); null when neither appears.
 */
export function framePointerFlag(commandLine: string): 'on' | 'off' | null {
  let result: 'on' | 'off' | null = null;
  for (const m of commandLine.matchAll(/(?:^|\s)-f(no-)?omit-frame-pointer(?=\s|$)/g)) result = m[1] ? 'on' : 'off';
  return result;
}
