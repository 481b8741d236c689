// Python objects read from the target's memory and checked before use: strings (compact,
// per their kind), bytes, and code objects. Anything that does not check out is null.
import { BYTES_SVAL, OB_SIZE, OB_TYPE } from './layouts';
import type { PythonRuntime } from './interpreter';
import type { TargetMemory } from './memory';

/** Longest name or file name read (characters); longer ones are not believed. */
const MAX_STRING = 4096;
/** Largest location table read (bytes; the largest in Debian's 3.11 stdlib is about 15 KiB). */
const MAX_LINETABLE = 256 * 1024;
/** Most code units a code object may claim. */
const MAX_CODE_UNITS = 1 << 24;

/** A name or path fit to print: no control characters, not empty. */
// eslint-disable-next-line no-control-regex -- control characters are what it refuses
const PRINTABLE = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]+$/;

/** A str object's text, or null (not a str, not compact, too long, undecodable, unprintable). */
export function readString(mem: TargetMemory, rt: PythonRuntime, address: bigint): string | null {
  const u = rt.layout.unicode;
  const head = mem.read(address, u.compactSize);
  if (head === null || head.readBigUInt64LE(OB_TYPE) !== rt.unicodeType) return null;
  const length = head.readBigInt64LE(u.length);
  const state = head.readUInt32LE(u.state);
  const kind = (state >> 2) & 7;
  const compact = (state >> 5) & 1;
  const ascii = (state >> 6) & 1;
  if (compact !== 1 || length <= 0n || length > BigInt(MAX_STRING)) return null;
  if ((kind !== 1 && kind !== 2 && kind !== 4) || (ascii === 1 && kind !== 1)) return null;
  const n = Number(length);
  const data = mem.read(address + BigInt(ascii === 1 ? u.asciiSize : u.compactSize), n * kind);
  if (data === null) return null;
  let text: string;
  if (ascii === 1) {
    if (data.some((b) => b > 0x7f)) return null;
    text = data.toString('latin1');
  } else if (kind === 1) {
    text = data.toString('latin1');
  } else {
    const points: number[] = [];
    for (let i = 0; i < n; i++) {
      const cp = kind === 2 ? data.readUInt16LE(i * 2) : data.readUInt32LE(i * 4);
      if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return null; // lone surrogates: not valid text
      points.push(cp);
    }
    text = String.fromCodePoint(...points);
  }
  return PRINTABLE.test(text) ? text : null;
}

/** A bytes object's contents (at most `max` bytes), or null. */
export function readBytes(mem: TargetMemory, rt: PythonRuntime, address: bigint, max = MAX_LINETABLE): Buffer | null {
  const head = mem.read(address, BYTES_SVAL);
  if (head === null || head.readBigUInt64LE(OB_TYPE) !== rt.bytesType) return null;
  const size = head.readBigInt64LE(OB_SIZE);
  if (size < 0n || size > BigInt(max)) return null;
  return size === 0n ? Buffer.alloc(0) : mem.read(address + BigInt(BYTES_SVAL), Number(size));
}

export interface CodeInfo {
  /** co_qualname, else co_name. */
  name: string;
  file: string | null;
  firstLine: number;
  /** Where the bytecode starts in the target, and how many code units it has. */
  codeStart: bigint;
  units: number;
  linetable: Buffer | null;
}

/** The raw header of a code object, the key its decoded form is cached under. */
export function readCodeHeader(mem: TargetMemory, rt: PythonRuntime, address: bigint): Buffer | null {
  const head = mem.read(address, rt.layout.code.adaptive);
  if (head === null || head.readBigUInt64LE(OB_TYPE) !== rt.codeType) return null;
  return head;
}

/** A code object's names, file and line table from its header; null when they do not check out. */
export function decodeCode(mem: TargetMemory, rt: PythonRuntime, address: bigint, head: Buffer): CodeInfo | null {
  const c = rt.layout.code;
  const units = head.readBigInt64LE(OB_SIZE);
  if (units <= 0n || units > BigInt(MAX_CODE_UNITS)) return null;
  const field = (offset: number): bigint => head.readBigUInt64LE(offset);
  // A live code object's file is never its name's string object: one that is was read while
  // the memory changed under us (a churned heap gave "__init__" as the file of __init__).
  const filename = field(c.filename);
  if (filename === field(c.name) || filename === field(c.qualname)) return null;
  const name = readString(mem, rt, field(c.qualname)) ?? readString(mem, rt, field(c.name));
  if (name === null) return null;
  const firstLine = head.readInt32LE(c.firstlineno);
  return {
    name,
    file: readString(mem, rt, filename),
    firstLine,
    codeStart: address + BigInt(c.adaptive),
    units: Number(units),
    linetable: firstLine >= 0 ? readBytes(mem, rt, field(c.linetable)) : null,
  };
}
