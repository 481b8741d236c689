// V8's source position tables (codegen/source-position-table.cc): a run of (code offset,
// source position) pairs, each a zigzag VLQ delta from the previous; a negative code delta
// marks an expression (not a statement) position. A source position packs the script offset
// (plus one, so that 0 means none) above an "external" bit, and an inlining id above that.

/** The source position in effect at `codeOffset`: the last entry at or before it; undefined if none. */
export function positionAt(
  table: Buffer,
  codeOffset: number,
): { scriptOffset: number; inliningId: number } | undefined {
  let pos = 0;
  let code = -1; // V8's kFunctionEntryBytecodeOffset
  let at = 0;
  let found: bigint | undefined;
  let raw = 0n;
  while (pos < table.length) {
    const c = readVlq(table, pos);
    if (c === undefined) return undefined;
    pos = c.next;
    code += c.value < 0 ? -(c.value + 1) : c.value;
    if (code > codeOffset) break;
    const s = readVlq(table, pos);
    if (s === undefined) return undefined;
    pos = s.next;
    raw += BigInt(s.value);
    found = raw;
    at++;
  }
  if (found === undefined || at === 0) return undefined;
  if ((found & 1n) === 1n) return undefined; // an external (non-script) position
  const scriptOffset = Number((found >> 1n) & ((1n << 30n) - 1n)) - 1;
  if (scriptOffset < 0) return undefined;
  return { scriptOffset, inliningId: Number((found >> 31n) & 0xffffn) };
}

/** One signed VLQ (7 bits a byte, high bit: more follow; zigzag sign in the lowest bit). */
function readVlq(b: Buffer, pos: number): { value: number; next: number } | undefined {
  let u = 0;
  let shift = 0;
  for (;;) {
    if (pos >= b.length || shift > 49) return undefined;
    const byte = b[pos++];
    u += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if ((byte & 0x80) === 0) break;
  }
  const value = u % 2 === 1 ? -(u - 1) / 2 - 1 : u / 2;
  return { value, next: pos };
}

/** 1-based line and column of a script offset, given the offsets of the script's line ends. */
export function lineAndColumn(
  lineEnds: ArrayLike<number>,
  offset: number,
): { line: number; column: number } | undefined {
  let lo = 0;
  let hi = lineEnds.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (lineEnds[mid] < offset) lo = mid + 1;
    else hi = mid;
  }
  // Past the last line end: the last line (a script need not end with a newline).
  const start = lo === 0 ? 0 : lineEnds[lo - 1] + 1;
  if (offset < start) return undefined;
  return { line: lo + 1, column: offset - start + 1 };
}

/** Line-end offsets of a source text, as V8's Script::InitLineEnds computes them. */
export function lineEndsOf(source: string): number[] {
  const ends: number[] = [];
  for (let i = source.indexOf('\n'); i >= 0; i = source.indexOf('\n', i + 1)) ends.push(i);
  ends.push(source.length);
  return ends;
}

/** Bytecodes that scale the next one's operands: Wide, ExtraWide and their DebugBreak forms. */
const SCALE_PREFIX: Record<number, number> = { 0: 1, 1: 2, 2: 1, 3: 2 };

/** Size of the bytecode at `at` with its prefix, from kBytecodeSizes[scale][opcode]; 0 if invalid. */
function bytecodeLength(bytecodes: Buffer, at: number, sizes: Buffer): number {
  const count = sizes.length / 3;
  const op = bytecodes[at];
  if (op === undefined) return 0;
  const scale = SCALE_PREFIX[op];
  if (scale === undefined) return op < count ? sizes[op] : 0;
  const scaled = bytecodes[at + 1];
  return scaled === undefined || scaled >= count ? 0 : 1 + sizes[scale * count + scaled];
}

/** One unsigned VLQ (V8's base::VLQDecodeUnsigned: 7 bits a byte, low group first). */
function readUnsignedVlq(b: Buffer, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let shift = 0; shift <= 28; shift += 7) {
    if (pos >= b.length) return undefined;
    const byte = b[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return { value, next: pos };
  }
  return undefined;
}

/**
 * The bytecode offset a Sparkplug (baseline) pc offset runs, as V8's BytecodeOffsetIterator
 * finds it: the code's offset table holds, per bytecode in order, the size of its machine code.
 * `pcOffset` is the return address's offset. −1: the function's prologue; undefined: invalid.
 */
export function baselineBytecodeOffset(
  offsetTable: Buffer,
  bytecodes: Buffer,
  sizes: Buffer,
  pcOffset: number,
): number | undefined {
  let r = readUnsignedVlq(offsetTable, 0);
  if (r === undefined) return undefined;
  let pcEnd = r.value;
  let current = -1;
  let next = 0;
  while (pcEnd < pcOffset) {
    r = readUnsignedVlq(offsetTable, r.next);
    if (r === undefined) return undefined;
    pcEnd += r.value;
    current = next;
    const length = bytecodeLength(bytecodes, next, sizes);
    if (length === 0) return undefined;
    next += length;
  }
  return current;
}
