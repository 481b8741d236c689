// The units of .debug_info (DWARF 2 to 5, 32- and 64-bit) and the attribute values of their
// DIEs: unit headers, abbreviation tables, and every DW_FORM, with the indirect ones (strx,
// addrx, rnglistx) resolved through the unit's bases. Only what naming inlined calls needs is
// decoded; every other value is skipped by its size. Reads are bounds-checked (DwarfReader):
// corrupt data throws an ElfError, which the callers turn into "no inline information".
import { ElfError } from '../elf/elf-file';
import { DwarfReader } from './reader';

/** The debug sections a .debug_info reader may need (decompressed); absent ones are undefined. */
export interface DebugSections {
  info: Buffer;
  abbrev: Buffer;
  str?: Buffer;
  lineStr?: Buffer;
  strOffsets?: Buffer;
  addr?: Buffer;
  ranges?: Buffer;
  rnglists?: Buffer;
  aranges?: Buffer;
}

export const DW_TAG = {
  compile_unit: 0x11,
  partial_unit: 0x3c,
  skeleton_unit: 0x4a,
  subprogram: 0x2e,
  inlined_subroutine: 0x1d,
  namespace: 0x39,
  class_type: 0x02,
  structure_type: 0x13,
  union_type: 0x17,
} as const;

export const DW_AT = {
  name: 0x03,
  stmt_list: 0x10,
  low_pc: 0x11,
  high_pc: 0x12,
  producer: 0x25,
  abstract_origin: 0x31,
  specification: 0x47,
  ranges: 0x55,
  call_file: 0x58,
  call_line: 0x59,
  linkage_name: 0x6e,
  str_offsets_base: 0x72,
  addr_base: 0x73,
  rnglists_base: 0x74,
  MIPS_linkage_name: 0x2007,
} as const;

export const FORM = {
  addr: 0x01,
  block2: 0x03,
  block4: 0x04,
  data2: 0x05,
  data4: 0x06,
  data8: 0x07,
  string: 0x08,
  block: 0x09,
  block1: 0x0a,
  data1: 0x0b,
  flag: 0x0c,
  sdata: 0x0d,
  strp: 0x0e,
  udata: 0x0f,
  ref_addr: 0x10,
  ref1: 0x11,
  ref2: 0x12,
  ref4: 0x13,
  ref8: 0x14,
  ref_udata: 0x15,
  indirect: 0x16,
  sec_offset: 0x17,
  exprloc: 0x18,
  flag_present: 0x19,
  strx: 0x1a,
  addrx: 0x1b,
  ref_sup4: 0x1c,
  strp_sup: 0x1d,
  data16: 0x1e,
  line_strp: 0x1f,
  ref_sig8: 0x20,
  implicit_const: 0x21,
  loclistx: 0x22,
  rnglistx: 0x23,
  ref_sup8: 0x24,
  strx1: 0x25,
  strx2: 0x26,
  strx3: 0x27,
  strx4: 0x28,
  addrx1: 0x29,
  addrx2: 0x2a,
  addrx3: 0x2b,
  addrx4: 0x2c,
  GNU_addr_index: 0x1f01,
  GNU_str_index: 0x1f02,
  GNU_ref_alt: 0x1f20,
  GNU_strp_alt: 0x1f21,
} as const;

/** DW_UT_* of DWARF 5 headers that carry extra fields after the common part. */
const DW_UT_type = 0x02;
const DW_UT_skeleton = 0x04;
const DW_UT_split_compile = 0x05;
const DW_UT_split_type = 0x06;

export interface Abbrev {
  tag: number;
  children: boolean;
  /** Attribute codes and forms, pairwise: [at0, form0, at1, form1, ...]. */
  specs: number[];
  /** The value of each DW_FORM_implicit_const spec (by spec index), else 0. */
  implicit: number[];
}

/** One unit of .debug_info. Bases come from its unit DIE (read by readUnitDie). */
export interface Unit {
  /** Offset of the unit header in .debug_info. */
  offset: number;
  /** End of the unit (exclusive). */
  end: number;
  /** Offset of the unit's first DIE. */
  dieStart: number;
  version: number;
  unitType: number;
  is64: boolean;
  addressSize: number;
  abbrevOffset: number;
  abbrevs?: Map<number, Abbrev>;
  /** Set by readUnitDie. */
  tag: number;
  lowPc: bigint;
  stmtList: number | undefined;
  strOffsetsBase: number;
  addrBase: number;
  rnglistsBase: number;
}

/** A decoded attribute value: string, address (bigint), number (constant, offset, reference), or null (not decoded). */
export type Value = string | bigint | number | null;

/** Every unit header of .debug_info, in order. Stops at the first header it cannot read. */
export function readUnits(info: Buffer): Unit[] {
  const units: Unit[] = [];
  let pos = 0;
  while (pos + 11 <= info.length) {
    const unit = readUnitHeader(info, pos);
    if (unit === null) break;
    units.push(unit);
    pos = unit.end;
  }
  return units;
}

/**
 * The header of the unit at `pos`; null when it cannot be read. With `truncated`, a unit that
 * runs past the end of `info` is accepted (a caller that read only a prefix of the section and
 * wants just the unit's first DIE).
 */
export function readUnitHeader(info: Buffer, pos: number, truncated = false): Unit | null {
  try {
    const r = new DwarfReader(info, pos);
    let length = r.u32();
    let is64 = false;
    if (length === 0xffffffff) {
      is64 = true;
      length = r.u64();
    } else if (length >= 0xfffffff0) {
      return null; // reserved values
    }
    const end = r.pos + length;
    if ((end > info.length && !truncated) || length < 7) return null;
    const version = r.u16();
    if (version < 2 || version > 5) return null;
    let unitType = 0x01;
    let addressSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      unitType = r.u8();
      addressSize = r.u8();
      abbrevOffset = r.offset(is64);
      if (unitType === DW_UT_skeleton || unitType === DW_UT_split_compile) r.skip(8);
      else if (unitType === DW_UT_type || unitType === DW_UT_split_type) {
        r.skip(8);
        r.offset(is64);
      }
    } else {
      abbrevOffset = r.offset(is64);
      addressSize = r.u8();
    }
    return {
      offset: pos,
      end,
      dieStart: r.pos,
      version,
      unitType,
      is64,
      addressSize,
      abbrevOffset,
      tag: 0,
      lowPc: 0n,
      stmtList: undefined,
      strOffsetsBase: 0,
      addrBase: 0,
      rnglistsBase: 0,
    };
  } catch {
    return null;
  }
}

/** The abbreviation table at `offset` of .debug_abbrev. */
export function readAbbrevs(abbrev: Buffer, offset: number): Map<number, Abbrev> {
  const out = new Map<number, Abbrev>();
  const r = new DwarfReader(abbrev, offset);
  for (;;) {
    const code = r.uleb();
    if (code === 0) return out;
    const tag = r.uleb();
    const children = r.u8() !== 0;
    const specs: number[] = [];
    const implicit: number[] = [];
    for (;;) {
      const at = r.uleb();
      const form = r.uleb();
      if (at === 0 && form === 0) break;
      implicit.push(form === FORM.implicit_const ? r.sleb() : 0);
      specs.push(at, form);
    }
    out.set(code, { tag, children, specs, implicit });
  }
}

/** Abbreviation tables are often shared by units: parse each offset once. */
export function abbrevsOf(
  unit: Unit,
  sections: DebugSections,
  cache: Map<number, Map<number, Abbrev>>,
): Map<number, Abbrev> {
  if (unit.abbrevs !== undefined) return unit.abbrevs;
  let table = cache.get(unit.abbrevOffset);
  if (table === undefined) {
    table = readAbbrevs(sections.abbrev, unit.abbrevOffset);
    cache.set(unit.abbrevOffset, table);
  }
  unit.abbrevs = table;
  return table;
}

/**
 * Reads the unit DIE: its tag, the bases of the indirect forms (read first: they may follow
 * the attributes that need them), its low_pc (the base of its range lists) and stmt_list.
 */
export function readUnitDie(unit: Unit, sections: DebugSections): Abbrev | undefined {
  const r = new DwarfReader(sections.info, unit.dieStart, unit.end);
  const abbrev = unit.abbrevs?.get(r.uleb());
  if (abbrev === undefined) return undefined;
  unit.tag = abbrev.tag;
  // DWARF 5 headers of .debug_str_offsets and .debug_addr are 8 bytes (16 in 64-bit DWARF);
  // a unit without the base attribute starts right after the first header.
  unit.strOffsetsBase = unit.is64 ? 16 : 8;
  unit.addrBase = unit.is64 ? 16 : 8;
  const start = r.pos;
  const { specs } = abbrev;
  for (let i = 0; i < specs.length; i += 2) {
    const at = specs[i];
    if (at === DW_AT.str_offsets_base || at === DW_AT.addr_base || at === DW_AT.rnglists_base) {
      const v = readValue(r, specs[i + 1], abbrev.implicit[i >> 1], unit, sections);
      if (typeof v !== 'number') continue;
      if (at === DW_AT.str_offsets_base) unit.strOffsetsBase = v;
      else if (at === DW_AT.addr_base) unit.addrBase = v;
      else unit.rnglistsBase = v;
    } else {
      skipValue(r, specs[i + 1], unit);
    }
  }
  r.pos = start;
  for (let i = 0; i < specs.length; i += 2) {
    const at = specs[i];
    if (at === DW_AT.low_pc || at === DW_AT.stmt_list) {
      const v = readValue(r, specs[i + 1], abbrev.implicit[i >> 1], unit, sections);
      if (at === DW_AT.low_pc && typeof v === 'bigint') unit.lowPc = v;
      if (at === DW_AT.stmt_list && typeof v === 'number') unit.stmtList = v;
    } else {
      skipValue(r, specs[i + 1], unit);
    }
  }
  return abbrev;
}

function cstrAt(section: Buffer | undefined, off: number): string | null {
  if (section === undefined || off < 0 || off >= section.length) return null;
  const z = section.indexOf(0, off);
  if (z < 0) return null;
  return section.toString('utf8', off, z);
}

function strx(unit: Unit, sections: DebugSections, index: number): string | null {
  const so = sections.strOffsets;
  const size = unit.is64 ? 8 : 4;
  const at = unit.strOffsetsBase + index * size;
  if (so === undefined || at + size > so.length) return null;
  const off = unit.is64 ? Number(so.readBigUInt64LE(at)) : so.readUInt32LE(at);
  return cstrAt(sections.str, off);
}

export function addrx(unit: Unit, sections: DebugSections, index: number): bigint | null {
  const a = sections.addr;
  const at = unit.addrBase + index * unit.addressSize;
  if (a === undefined || at + unit.addressSize > a.length) return null;
  return new DwarfReader(a, at).address(unit.addressSize);
}

/** A DW_FORM_rnglistx index as an offset in .debug_rnglists (offsets are relative to the base). */
function rnglistx(unit: Unit, sections: DebugSections, index: number): number | null {
  const rl = sections.rnglists;
  const size = unit.is64 ? 8 : 4;
  const at = unit.rnglistsBase + index * size;
  if (rl === undefined || at + size > rl.length) return null;
  return unit.rnglistsBase + (unit.is64 ? Number(rl.readBigUInt64LE(at)) : rl.readUInt32LE(at));
}

/**
 * Reads one attribute value. References come back as .debug_info offsets; strx, addrx and
 * rnglistx are resolved (rnglistx to a .debug_rnglists offset). Blocks, expressions,
 * 16-byte data, type signatures and references into supplementary files give null.
 * long-function: a flat dispatch on DW_FORM, one short case per form; splitting it would scatter
 * the forms.
 */
export function readValue(r: DwarfReader, form: number, implicit: number, unit: Unit, sections: DebugSections): Value {
  switch (form) {
    case FORM.addr:
      return r.address(unit.addressSize);
    case FORM.data1:
    case FORM.ref1:
    case FORM.flag:
    case FORM.strx1:
    case FORM.addrx1: {
      const v = r.u8();
      return form === FORM.ref1
        ? unit.offset + v
        : form === FORM.strx1
          ? strx(unit, sections, v)
          : form === FORM.addrx1
            ? addrx(unit, sections, v)
            : v;
    }
    case FORM.data2:
    case FORM.ref2:
    case FORM.strx2:
    case FORM.addrx2: {
      const v = r.u16();
      return form === FORM.ref2
        ? unit.offset + v
        : form === FORM.strx2
          ? strx(unit, sections, v)
          : form === FORM.addrx2
            ? addrx(unit, sections, v)
            : v;
    }
    case FORM.strx3:
    case FORM.addrx3: {
      const v = r.uN(3);
      return form === FORM.strx3 ? strx(unit, sections, v) : addrx(unit, sections, v);
    }
    case FORM.data4:
    case FORM.ref4:
    case FORM.strx4:
    case FORM.addrx4: {
      const v = r.u32();
      return form === FORM.ref4
        ? unit.offset + v
        : form === FORM.strx4
          ? strx(unit, sections, v)
          : form === FORM.addrx4
            ? addrx(unit, sections, v)
            : v;
    }
    case FORM.data8:
    case FORM.ref8: {
      const v = r.u64big();
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) return null;
      return form === FORM.ref8 ? unit.offset + Number(v) : Number(v);
    }
    case FORM.sdata:
      return r.sleb();
    case FORM.udata:
      return r.uleb();
    case FORM.ref_udata:
      return unit.offset + r.uleb();
    case FORM.implicit_const:
      return implicit;
    case FORM.flag_present:
      return 1;
    case FORM.string:
      return r.cstr();
    case FORM.strp:
      return cstrAt(sections.str, r.offset(unit.is64));
    case FORM.line_strp:
      return cstrAt(sections.lineStr, r.offset(unit.is64));
    case FORM.strx:
    case FORM.GNU_str_index:
      return strx(unit, sections, r.uleb());
    case FORM.addrx:
    case FORM.GNU_addr_index:
      return addrx(unit, sections, r.uleb());
    // DWARF 2 wrote ref_addr in the address size; later versions in the offset size.
    case FORM.ref_addr:
      return unit.version <= 2 ? Number(r.address(unit.addressSize)) : r.offset(unit.is64);
    case FORM.sec_offset:
      return r.offset(unit.is64);
    case FORM.rnglistx:
      return rnglistx(unit, sections, r.uleb());
    case FORM.loclistx:
      return r.uleb();
    case FORM.indirect: {
      const actual = r.uleb();
      if (actual === FORM.indirect || actual === FORM.implicit_const) throw new ElfError('DWARF: bad indirect form');
      return readValue(r, actual, implicit, unit, sections);
    }
    default:
      skipValue(r, form, unit);
      return null;
  }
}

/**
 * Steps over one attribute value without decoding it.
 * long-function: a flat dispatch on DW_FORM, one short case per form (as readValue).
 */
export function skipValue(r: DwarfReader, form: number, unit: Unit): void {
  switch (form) {
    case FORM.flag_present:
    case FORM.implicit_const:
      return;
    case FORM.addr:
      r.skip(unit.addressSize);
      return;
    case FORM.data1:
    case FORM.ref1:
    case FORM.flag:
    case FORM.strx1:
    case FORM.addrx1:
      r.skip(1);
      return;
    case FORM.data2:
    case FORM.ref2:
    case FORM.strx2:
    case FORM.addrx2:
      r.skip(2);
      return;
    case FORM.strx3:
    case FORM.addrx3:
      r.skip(3);
      return;
    case FORM.data4:
    case FORM.ref4:
    case FORM.strx4:
    case FORM.addrx4:
    case FORM.ref_sup4:
      r.skip(4);
      return;
    case FORM.data8:
    case FORM.ref8:
    case FORM.ref_sig8:
    case FORM.ref_sup8:
      r.skip(8);
      return;
    case FORM.data16:
      r.skip(16);
      return;
    case FORM.sdata:
      r.sleb();
      return;
    case FORM.udata:
    case FORM.ref_udata:
    case FORM.strx:
    case FORM.addrx:
    case FORM.rnglistx:
    case FORM.loclistx:
    case FORM.GNU_addr_index:
    case FORM.GNU_str_index:
      r.uleb();
      return;
    case FORM.string:
      r.cstr();
      return;
    case FORM.strp:
    case FORM.line_strp:
    case FORM.sec_offset:
    case FORM.strp_sup:
    case FORM.GNU_ref_alt:
    case FORM.GNU_strp_alt:
      r.skip(unit.is64 ? 8 : 4);
      return;
    case FORM.ref_addr:
      r.skip(unit.version <= 2 ? unit.addressSize : unit.is64 ? 8 : 4);
      return;
    case FORM.block1:
      r.skip(r.u8());
      return;
    case FORM.block2:
      r.skip(r.u16());
      return;
    case FORM.block4:
      r.skip(r.u32());
      return;
    case FORM.block:
    case FORM.exprloc:
      r.skip(r.uleb());
      return;
    case FORM.indirect: {
      const actual = r.uleb();
      if (actual === FORM.indirect || actual === FORM.implicit_const) throw new ElfError('DWARF: bad indirect form');
      skipValue(r, actual, unit);
      return;
    }
    default:
      throw new ElfError(`DWARF: unknown form 0x${form.toString(16)}`);
  }
}
