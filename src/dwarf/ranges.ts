// Address ranges of DWARF entries: DW_AT_ranges lists (.debug_ranges in DWARF 2–4,
// .debug_rnglists in DWARF 5) and the per-unit table of .debug_aranges. Ranges are flat
// arrays [low0, high0, low1, high1, ...], high exclusive; empty ranges are dropped.
import { DwarfReader } from './reader';
import { addrx, type DebugSections, type Unit } from './units';

const MASK64 = (1n << 64n) - 1n;

const RLE = {
  end_of_list: 0,
  base_addressx: 1,
  startx_endx: 2,
  startx_length: 3,
  offset_pair: 4,
  base_address: 5,
  start_end: 6,
  start_length: 7,
} as const;

function push(out: bigint[], low: bigint | null, high: bigint | null): void {
  if (low !== null && high !== null && high > low) out.push(low, high);
}

/** The range list at `offset` (a .debug_ranges offset before DWARF 5, a .debug_rnglists offset from it). */
export function rangeList(unit: Unit, sections: DebugSections, offset: number): bigint[] {
  return unit.version >= 5 ? rnglist(unit, sections, offset) : debugRanges(unit, sections, offset);
}

function debugRanges(unit: Unit, sections: DebugSections, offset: number): bigint[] {
  const out: bigint[] = [];
  if (sections.ranges === undefined) return out;
  const r = new DwarfReader(sections.ranges, offset);
  const size = unit.addressSize;
  const all = size === 8 ? MASK64 : (1n << BigInt(size * 8)) - 1n;
  let base = unit.lowPc;
  for (;;) {
    const start = r.address(size);
    const end = r.address(size);
    if (start === 0n && end === 0n) return out;
    if (start === all)
      base = end; // base address selection entry
    else push(out, (base + start) & MASK64, (base + end) & MASK64);
  }
}

function rnglist(unit: Unit, sections: DebugSections, offset: number): bigint[] {
  const out: bigint[] = [];
  if (sections.rnglists === undefined) return out;
  const r = new DwarfReader(sections.rnglists, offset);
  const size = unit.addressSize;
  let base: bigint | null = unit.lowPc;
  for (;;) {
    const kind = r.u8();
    switch (kind) {
      case RLE.end_of_list:
        return out;
      case RLE.base_addressx:
        base = addrx(unit, sections, r.uleb());
        break;
      case RLE.startx_endx:
        push(out, addrx(unit, sections, r.uleb()), addrx(unit, sections, r.uleb()));
        break;
      case RLE.startx_length: {
        const start = addrx(unit, sections, r.uleb());
        const length = BigInt(r.uleb());
        push(out, start, start === null ? null : start + length);
        break;
      }
      case RLE.offset_pair: {
        const a = BigInt(r.uleb());
        const b = BigInt(r.uleb());
        if (base !== null) push(out, base + a, base + b);
        break;
      }
      case RLE.base_address:
        base = r.address(size);
        break;
      case RLE.start_end:
        push(out, r.address(size), r.address(size));
        break;
      case RLE.start_length: {
        const start = r.address(size);
        push(out, start, start + BigInt(r.uleb()));
        break;
      }
      default:
        throw new RangeError(`DW_RLE 0x${kind.toString(16)}`);
    }
  }
}

/** One address range of .debug_aranges and the .debug_info offset of the unit it belongs to. */
export interface UnitRange {
  low: bigint;
  high: bigint;
  unit: number;
}

/** Every range of .debug_aranges; sets that cannot be read are skipped. */
export function readAranges(aranges: Buffer): UnitRange[] {
  const out: UnitRange[] = [];
  let pos = 0;
  while (pos + 4 <= aranges.length) {
    const setStart = pos;
    let next = aranges.length;
    try {
      const r = new DwarfReader(aranges, pos);
      let length = r.u32();
      const is64 = length === 0xffffffff;
      if (is64) length = r.u64();
      next = r.pos + length;
      const end = Math.min(aranges.length, next);
      const tuples = new DwarfReader(aranges, r.pos, end);
      tuples.u16(); // version (2)
      const unit = tuples.offset(is64);
      const size = tuples.u8();
      const segment = tuples.u8();
      // Tuples start at a multiple of their size from the start of the set.
      const tuple = size * 2 + segment;
      if (size !== 4 && size !== 8) throw new RangeError(`address size ${size}`);
      const misalign = (tuples.pos - setStart) % tuple;
      if (misalign !== 0) tuples.skip(tuple - misalign);
      while (tuples.pos + tuple <= end) {
        tuples.skip(segment);
        const low = tuples.address(size);
        const len = tuples.address(size);
        if (low === 0n && len === 0n) break;
        if (len > 0n) out.push({ low, high: low + len, unit });
      }
    } catch {
      // a set this reader cannot follow: its units fall back to their own ranges
    }
    if (next <= pos) break;
    pos = next;
  }
  return out;
}
