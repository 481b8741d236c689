// The compiler command line a module was built with, where the build recorded it:
//   - DW_AT_producer of a compile unit in .debug_info (gcc -g records the code-generation
//     flags there: "GNU C11 12.2.0 -mtune=generic -march=x86-64 -g -O2 ..."),
//   - the .GCC.command.line section (gcc -frecord-gcc-switches).
// Only the first DIE of a few compile units is decoded (with dwarf/units.ts), and the string
// sections are read only as far as the producer string needs.
// Compressed sections are read through dwarf/sections.ts.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cString, ElfError, ElfFile, FdSource, SHT_NOBITS } from '../elf/elf-file';
import { DwarfReader } from '../dwarf/reader';
import { sectionBytes, sectionPrefix } from '../dwarf/sections';
import {
  DW_AT,
  DW_TAG,
  FORM,
  readAbbrevs,
  readUnitHeader,
  readValue,
  skipValue,
  type DebugSections,
  type Unit,
} from '../dwarf/units';

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

/** How the producer string is stored, resolved once the whole DIE has been read. */
type StringRef =
  | { kind: 'inline'; value: string }
  | { kind: 'strp'; offset: number }
  | { kind: 'line_strp'; offset: number }
  | { kind: 'strx'; index: number }
  | { kind: 'alt'; offset: number };

/**
 * A string attribute's value, left unresolved (the string sections are read only as far as
 * needed); null for a form that holds no string (its value is skipped).
 */
function readStringRef(r: DwarfReader, form: number, u: Unit): StringRef | null {
  const offset = (): number => r.offset(u.is64);
  switch (form) {
    case FORM.string:
      return { kind: 'inline', value: r.cstr() };
    case FORM.strp:
      return { kind: 'strp', offset: offset() };
    case FORM.line_strp:
      return { kind: 'line_strp', offset: offset() };
    case FORM.GNU_strp_alt:
      return { kind: 'alt', offset: offset() }; // dwz
    case FORM.strx:
    case FORM.GNU_str_index:
      return { kind: 'strx', index: r.uleb() };
    case FORM.strx1:
      return { kind: 'strx', index: r.u8() };
    case FORM.strx2:
      return { kind: 'strx', index: r.u16() };
    case FORM.strx3:
      return { kind: 'strx', index: r.uN(3) };
    case FORM.strx4:
      return { kind: 'strx', index: r.u32() };
    case FORM.indirect:
      return readStringRef(r, r.uleb(), u);
    default:
      skipValue(r, form, u);
      return null;
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

function resolveString(
  elf: ElfFile,
  filePath: string | undefined,
  ref: StringRef,
  strOffsetsBase: number | undefined,
  u: Unit,
): string | null {
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
      const size = u.is64 ? 8 : 4;
      // DWARF 5: the base points past the table's header (8 bytes in 32-bit DWARF).
      const base = strOffsetsBase ?? (u.is64 ? 16 : 8);
      const at = base + ref.index * size;
      const table = sectionPrefix(elf, so, at + size);
      if (at + size > table.length) return null;
      return stringAt(elf, '.debug_str', new DwarfReader(table, at).uN(size));
    }
  }
}

const INFO_PREFIX = 4 << 20;
/** Values read here (str_offsets_base) need no other section. */
const NO_SECTIONS: DebugSections = { info: Buffer.alloc(0), abbrev: Buffer.alloc(0) };
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
    // The first unit may run past the prefix read: only its first DIE is needed.
    const u = readUnitHeader(info, pos, n === 0);
    if (u === null) {
      if (n === 0) throw new ElfError('DWARF: unreadable unit header');
      break; // the next unit lies past the prefix we read
    }
    const r = new DwarfReader(info, u.dieStart);
    const code = r.uleb();
    abbrev ??= sectionBytes(elf, abbrevSec, 64 << 20);
    const ab = code === 0 ? undefined : readAbbrevs(abbrev, u.abbrevOffset).get(code);
    if (ab !== undefined && (ab.tag === DW_TAG.compile_unit || ab.tag === DW_TAG.partial_unit)) {
      let producer: StringRef | null = null;
      let strOffsetsBase: number | undefined;
      for (let i = 0; i < ab.specs.length; i += 2) {
        const [at, form] = [ab.specs[i], ab.specs[i + 1]];
        if (at === DW_AT.producer) {
          producer = readStringRef(r, form, u);
        } else if (at === DW_AT.str_offsets_base) {
          const v = readValue(r, form, ab.implicit[i >> 1], u, NO_SECTIONS);
          if (typeof v === 'number') strOffsetsBase = v;
        } else {
          skipValue(r, form, u);
        }
      }
      if (producer !== null) {
        const s = resolveString(elf, filePath, producer, strOffsetsBase, u);
        if (s !== null && s !== '') {
          if (!/^GNU AS\b|^clang.*assembler/i.test(s) && !/\bAS \d/.test(s)) return s;
          first ??= s;
        }
      }
    }
    if (u.end <= pos) break;
    pos = u.end;
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
