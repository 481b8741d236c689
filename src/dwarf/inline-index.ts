// Inlined calls from DWARF .debug_info: for an address, the chain of DW_TAG_inlined_subroutine
// entries that cover it, innermost first, up to the out-of-line DW_TAG_subprogram, each named
// through its DW_AT_abstract_origin / DW_AT_specification chain (the linkage name, else the
// name: what `addr2line -f -i` prints) and called from its DW_AT_call_file:DW_AT_call_line.
//
// Lazy, because a debug file can hold hundreds of compile units: building the index reads only
// the unit headers and the units' address ranges (.debug_aranges, else each unit DIE's own);
// a lookup parses the function trees of the unit that covers the address, once. Never throws:
// a unit that cannot be parsed gives no inline information for its addresses.
import type { ElfFile } from '../elf/elf-file';
import type { LineTable, SourceLine } from './line-table';
import { RangeIndex } from './range-index';
import { subprogramScopes } from './scope-names';
import { rangeList, readAranges } from './ranges';
import { DwarfReader } from './reader';
import { namedSection } from './sections';
import {
  abbrevsOf,
  DW_AT,
  DW_TAG,
  readUnitDie,
  readUnits,
  readValue,
  skipValue,
  type Abbrev,
  type DebugSections,
  type Unit,
} from './units';

/** One inlined call at an address, named and placed as addr2line -f -i places it. */
export interface InlinedCall {
  /** The linkage name when `linkage` (to demangle), else DW_AT_name; null when neither is found. */
  name: string | null;
  linkage: boolean;
  /** Where execution is in this inlined function: the line row for the innermost, else the call site of the next inner one. */
  source: SourceLine | null;
}

export interface InlineExpansion {
  /** Innermost first; never empty. */
  calls: InlinedCall[];
  /** The call site of the outermost inlined call, in the out-of-line function. */
  source: SourceLine | null;
}

/** What a DIE says about a function: its code ranges, where its name is, where it was called from. */
interface FunctionAttrs {
  low: bigint | null;
  /** An address, or (a number) an offset from low. */
  high: bigint | number | null;
  ranges: number | null;
  callFile: number;
  callLine: number;
}

/** A unit's functions: out-of-line subprograms (roots) and the inlined calls nested in them. */
interface FunctionTree {
  /** Per node: parent node (-1 for a subprogram), DIE offset, code ranges, call site. */
  parent: number[];
  die: number[];
  ranges: bigint[][];
  callFile: number[];
  callLine: number[];
  children: number[][];
  /** The subprograms (root nodes) by their code ranges. */
  roots: RangeIndex<number>;
}

/** How far abstract_origin / specification chains are followed (they are 1 or 2 long in practice). */
const MAX_ORIGIN_DEPTH = 8;

function covers(ranges: bigint[], vaddr: bigint): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (ranges[i] <= vaddr && vaddr < ranges[i + 1]) return true;
  return false;
}

export class InlineIndex {
  private readonly units: Unit[];
  private readonly abbrevCache = new Map<number, Map<number, Abbrev>>();
  /** Units that readUnitDie has been run on (bases, low_pc, stmt_list known). */
  private readonly prepared = new Set<Unit>();
  /** Units by their address ranges (which may overlap); set by the constructor. */
  private unitRanges = new RangeIndex<Unit>([]);
  private readonly trees = new Map<Unit, FunctionTree | null>();
  private readonly names = new Map<number, { name: string; linkage: boolean } | null>();
  /** Per unit, the C++ scope of each subprogram entry (null: the unit could not be walked). */
  private readonly scopes = new Map<Unit, Map<number, string> | null>();

  /** About how much memory the index holds: the debug sections it reads units from (parsed
   *  units add to that as they are looked up). */
  get bytes(): number {
    return Object.values(this.sections).reduce((n: number, b: Buffer | undefined) => n + (b?.length ?? 0), 0);
  }

  private constructor(
    private readonly sections: DebugSections,
    private readonly lines: LineTable | null,
  ) {
    this.units = readUnits(sections.info);
    this.indexUnits();
  }

  /** The index of the file's .debug_info, or null when it has none or it cannot be read. `lines` names call files. */
  static build(elf: ElfFile, lines: LineTable | null): InlineIndex | null {
    try {
      return InlineIndex.read(elf, lines);
    } catch {
      return null; // e.g. a debug section compressed in a way sections.ts cannot inflate
    }
  }

  private static read(elf: ElfFile, lines: LineTable | null): InlineIndex | null {
    const info = namedSection(elf, '.debug_info');
    const abbrev = namedSection(elf, '.debug_abbrev');
    if (info === undefined || abbrev === undefined) return null;
    return new InlineIndex(
      {
        info,
        abbrev,
        str: namedSection(elf, '.debug_str'),
        lineStr: namedSection(elf, '.debug_line_str'),
        strOffsets: namedSection(elf, '.debug_str_offsets'),
        addr: namedSection(elf, '.debug_addr'),
        ranges: namedSection(elf, '.debug_ranges'),
        rnglists: namedSection(elf, '.debug_rnglists'),
        aranges: namedSection(elf, '.debug_aranges'),
      },
      lines,
    );
  }

  /**
   * The inlined calls at a link-time address, given the line row of the address (the source of
   * the innermost call). Null when no inlined call covers it or the debug info cannot say.
   */
  lookup(vaddr: bigint, row: SourceLine | null): InlineExpansion | null {
    try {
      for (const unit of this.unitsAt(vaddr)) {
        const tree = this.tree(unit);
        const chain = tree === null ? null : this.chainAt(tree, vaddr);
        if (chain === null) continue;
        if (chain.length < 2) return null;
        const calls: InlinedCall[] = [];
        let source = row;
        for (let i = 0; i < chain.length - 1; i++) {
          const n = chain[i];
          const name = this.nameAt(tree!.die[n], 0);
          calls.push({ name: name?.name ?? null, linkage: name?.linkage ?? false, source });
          const file = unit.stmtList === undefined ? undefined : this.lines?.unitFile(unit.stmtList, tree!.callFile[n]);
          source = file === undefined ? null : { file, line: tree!.callLine[n] };
        }
        return { calls, source };
      }
    } catch {
      // corrupt debug info: the frame keeps its symbol and line, without inlined calls
    }
    return null;
  }

  /** Abbreviations and unit DIE of a unit, read once. */
  private prepare(unit: Unit): Abbrev | undefined {
    abbrevsOf(unit, this.sections, this.abbrevCache);
    const first = readUnitDie(unit, this.sections);
    this.prepared.add(unit);
    return first;
  }

  /** Every unit's address ranges: from .debug_aranges, and from the unit DIE for units it does not list. */
  private indexUnits(): void {
    const byOffset = new Map(this.units.map((u) => [u.offset, u]));
    const entries: [bigint, bigint, Unit][] = [];
    const listed = new Set<Unit>();
    if (this.sections.aranges !== undefined) {
      for (const a of readAranges(this.sections.aranges)) {
        const u = byOffset.get(a.unit);
        if (u === undefined) continue;
        entries.push([a.low, a.high, u]);
        listed.add(u);
      }
    }
    for (const u of this.units) {
      if (listed.has(u)) continue;
      try {
        const abbrev = this.prepare(u);
        if (abbrev === undefined || (abbrev.tag !== DW_TAG.compile_unit && abbrev.tag !== DW_TAG.partial_unit))
          continue;
        const r = new DwarfReader(this.sections.info, u.dieStart, u.end);
        r.uleb();
        const ranges = this.rangesOf(this.readFunction(r, abbrev, u), u);
        for (let i = 0; i < ranges.length; i += 2) entries.push([ranges[i], ranges[i + 1], u]);
      } catch {
        // a unit whose DIE cannot be read: its addresses get no inline information
      }
    }
    this.unitRanges = new RangeIndex(entries);
  }

  /** Units whose ranges cover vaddr, the tightest first. */
  private unitsAt(vaddr: bigint): Unit[] {
    const found = this.unitRanges.covering(vaddr).sort((a, b) => (a.size < b.size ? -1 : a.size > b.size ? 1 : 0));
    return [...new Set(found.map((f) => f.value))];
  }

  private tree(unit: Unit): FunctionTree | null {
    let t = this.trees.get(unit);
    if (t === undefined) {
      try {
        t = this.parseTree(unit);
      } catch {
        t = null;
      }
      this.trees.set(unit, t);
    }
    return t;
  }

  /** Walks every DIE of the unit once, keeping the subprograms and inlined calls that have code. */
  private parseTree(unit: Unit): FunctionTree {
    if (!this.prepared.has(unit)) this.prepare(unit);
    const abbrevs = unit.abbrevs!;
    const t: FunctionTree = {
      parent: [],
      die: [],
      ranges: [],
      callFile: [],
      callLine: [],
      children: [],
      roots: new RangeIndex<number>([]),
    };
    const r = new DwarfReader(this.sections.info, unit.dieStart, unit.end);
    // The node that encloses the DIEs being read (-1: none), saved per open level of children.
    const stack: number[] = [];
    let context = -1;
    const roots: [bigint, bigint, number][] = [];
    while (r.pos < unit.end) {
      const at = r.pos;
      const code = r.uleb();
      if (code === 0) {
        if (stack.length === 0) break; // padding after the unit DIE's children
        context = stack.pop()!;
        continue;
      }
      const abbrev = abbrevs.get(code);
      if (abbrev === undefined) throw new RangeError(`abbreviation ${code} at 0x${at.toString(16)}`);
      let inner = context;
      if (abbrev.tag === DW_TAG.subprogram || abbrev.tag === DW_TAG.inlined_subroutine) {
        const f = this.readFunction(r, abbrev, unit);
        const ranges = this.rangesOf(f, unit);
        const parent = abbrev.tag === DW_TAG.subprogram ? -1 : context;
        // Code of an inlined call outside any function with code cannot be placed: skip it.
        if (ranges.length > 0 && (parent >= 0 || abbrev.tag === DW_TAG.subprogram)) {
          inner = t.parent.length;
          t.parent.push(parent);
          t.die.push(at);
          t.ranges.push(ranges);
          t.callFile.push(f.callFile);
          t.callLine.push(f.callLine);
          t.children.push([]);
          if (parent >= 0) t.children[parent].push(inner);
          else for (let i = 0; i < ranges.length; i += 2) roots.push([ranges[i], ranges[i + 1], inner]);
        } else {
          inner = -1;
        }
      } else {
        const { specs } = abbrev;
        for (let i = 1; i < specs.length; i += 2) skipValue(r, specs[i], unit);
      }
      if (abbrev.children) {
        stack.push(context);
        context = inner;
      }
    }
    t.roots = new RangeIndex(roots);
    return t;
  }

  /** Node indices from the innermost call covering vaddr out to its subprogram; null when no subprogram covers it. */
  private chainAt(t: FunctionTree, vaddr: bigint): number[] | null {
    // The tightest subprogram range around vaddr (the first found among equals).
    let root = -1;
    let best = 0n;
    for (const { size, value } of t.roots.covering(vaddr)) {
      if (root < 0 || size < best) {
        root = value;
        best = size;
      }
    }
    if (root < 0) return null;
    let node = root;
    for (let depth = 0; depth < t.parent.length; depth++) {
      const next = t.children[node].find((c) => covers(t.ranges[c], vaddr));
      if (next === undefined) break;
      node = next;
    }
    const chain: number[] = [];
    for (let n = node; n >= 0 && chain.length <= t.parent.length; n = t.parent[n]) chain.push(n);
    return chain;
  }

  /** The attributes of a subprogram or inlined_subroutine DIE (the reader is past its code). */
  private readFunction(r: DwarfReader, abbrev: Abbrev, unit: Unit): FunctionAttrs {
    const f: FunctionAttrs = { low: null, high: null, ranges: null, callFile: 0, callLine: 0 };
    const { specs, implicit } = abbrev;
    for (let i = 0; i < specs.length; i += 2) {
      const at = specs[i];
      if (
        at !== DW_AT.low_pc &&
        at !== DW_AT.high_pc &&
        at !== DW_AT.ranges &&
        at !== DW_AT.call_file &&
        at !== DW_AT.call_line
      ) {
        skipValue(r, specs[i + 1], unit);
        continue;
      }
      const v = readValue(r, specs[i + 1], implicit[i >> 1], unit, this.sections);
      if (at === DW_AT.low_pc) f.low = typeof v === 'bigint' ? v : null;
      else if (at === DW_AT.high_pc) f.high = typeof v === 'bigint' || typeof v === 'number' ? v : null;
      else if (at === DW_AT.ranges) f.ranges = typeof v === 'number' ? v : null;
      else if (at === DW_AT.call_file) f.callFile = typeof v === 'number' ? v : 0;
      else f.callLine = typeof v === 'number' ? v : 0;
    }
    return f;
  }

  private rangesOf(f: FunctionAttrs, unit: Unit): bigint[] {
    if (f.ranges !== null) return rangeList(unit, this.sections, f.ranges);
    if (f.low === null || f.high === null) return [];
    const high = typeof f.high === 'bigint' ? f.high : f.low + BigInt(f.high);
    return high > f.low ? [f.low, high] : [];
  }

  /** The unit that holds the DIE at a .debug_info offset. */
  private unitAt(offset: number): Unit | undefined {
    let l = 0;
    let h = this.units.length - 1;
    while (l <= h) {
      const m = (l + h) >>> 1;
      const u = this.units[m];
      if (offset < u.offset) h = m - 1;
      else if (offset >= u.end) l = m + 1;
      else return u;
    }
    return undefined;
  }

  /** The C++ scope ('std::', '') of the subprogram entry at a .debug_info offset. */
  private scopeOf(unit: Unit, offset: number): string {
    let scopes = this.scopes.get(unit);
    if (scopes === undefined) {
      try {
        scopes = subprogramScopes(unit, this.sections);
      } catch {
        scopes = null;
      }
      this.scopes.set(unit, scopes);
    }
    return scopes?.get(offset) ?? '';
  }

  /**
   * The name of the function a DIE stands for: a linkage name anywhere along its abstract_origin
   * / specification chain wins (as in binutils), else the DW_AT_name of the entry the chain
   * ends at, qualified with its C++ scope (scope-names.ts).
   */
  private nameAt(offset: number, depth: number): { name: string; linkage: boolean } | null {
    const known = this.names.get(offset);
    if (known !== undefined) return known;
    const unit = this.unitAt(offset);
    if (unit === undefined || offset < unit.dieStart) return null;
    if (!this.prepared.has(unit)) this.prepare(unit);
    const r = new DwarfReader(this.sections.info, offset, unit.end);
    const abbrev = unit.abbrevs?.get(r.uleb());
    if (abbrev === undefined) return null;
    let name: string | undefined;
    let linkage: string | undefined;
    let origin: number | undefined;
    const { specs, implicit } = abbrev;
    for (let i = 0; i < specs.length; i += 2) {
      const at = specs[i];
      if (
        at === DW_AT.name ||
        at === DW_AT.linkage_name ||
        at === DW_AT.MIPS_linkage_name ||
        at === DW_AT.abstract_origin ||
        at === DW_AT.specification
      ) {
        const v = readValue(r, specs[i + 1], implicit[i >> 1], unit, this.sections);
        if (at === DW_AT.name && typeof v === 'string') name ??= v;
        else if ((at === DW_AT.linkage_name || at === DW_AT.MIPS_linkage_name) && typeof v === 'string') linkage ??= v;
        else if ((at === DW_AT.abstract_origin || at === DW_AT.specification) && typeof v === 'number') origin ??= v;
      } else {
        skipValue(r, specs[i + 1], unit);
      }
    }
    let result: { name: string; linkage: boolean } | null;
    const up =
      origin !== undefined && origin !== offset && depth < MAX_ORIGIN_DEPTH ? this.nameAt(origin, depth + 1) : null;
    if (linkage !== undefined) result = { name: linkage, linkage: true };
    // The entry the chain leads to is the declaration, inside its namespace or class.
    else if (up !== null) result = up;
    else result = name === undefined ? null : { name: this.scopeOf(unit, offset) + name, linkage: false };
    this.names.set(offset, result);
    return result;
  }
}
