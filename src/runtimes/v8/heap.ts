// Reading V8 heap objects out of a live process, trusting nothing: every pointer must carry
// the heap-object tag, every object's map must say the expected instance type, every length
// is bounded. The heap moves while we read (the target runs again): anything that does not
// check out is a V8ReadError with a reason, never a guess.
import type { V8Layout } from './metadata';

/** Reads up to `length` bytes of the target at `address` (short when a page is unreadable). */
export type ReadMemory = (address: bigint, length: number) => Buffer;

export class V8ReadError extends Error {
  override name = 'V8ReadError';
}

const TAG_MASK = 3n;
const HEAP_OBJECT_TAG = 1n;
/** Names and file names longer than this are not names (V8's own limit is far higher). */
export const MAX_NAME_CHARS = 1024;
/** The most of a script's source read to find its line ends. */
export const MAX_SOURCE_CHARS = 8 * 1024 * 1024;
const MAX_STRING_DEPTH = 64;

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** The text with lone surrogates (two-byte strings may hold them) as U+FFFD: valid UTF-8 out. */
export function wellFormed(text: string): string {
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

export function isSmi(word: bigint): boolean {
  return (word & 1n) === 0n;
}

/** A Smi's value (64-bit V8 without pointer compression: the upper 32 bits, signed). */
export function smiValue(word: bigint): number {
  return Number(BigInt.asIntN(64, word) >> 32n);
}

export function isHeapObject(word: bigint): boolean {
  return (word & TAG_MASK) === HEAP_OBJECT_TAG;
}

export class V8Heap {
  /** Instance type by map address: maps live in old space and rarely move; re-read each pass. */
  private readonly mapTypes = new Map<bigint, number>();

  constructor(
    readonly layout: V8Layout,
    private readMemory: ReadMemory,
  ) {}

  /** Reads through this from now on: a heap's caches outlive the pass that opened the memory. */
  use(readMemory: ReadMemory): void {
    this.readMemory = readMemory;
  }

  /** Exactly `length` bytes at addr, or a V8ReadError. */
  read(addr: bigint, length: number): Buffer {
    if (addr <= 0n || addr >= 1n << 64n) throw new V8ReadError(`address 0x${addr.toString(16)} out of range`);
    const b = this.readMemory(addr, length);
    if (b.length < length) throw new V8ReadError(`unreadable memory at 0x${addr.toString(16)}`);
    return b;
  }

  word(addr: bigint): bigint {
    return this.read(addr, 8).readBigUInt64LE(0);
  }

  /** The instance type of the object a tagged pointer points to. */
  typeOf(tagged: bigint): number {
    if (!isHeapObject(tagged)) throw new V8ReadError('not a heap object pointer');
    return this.typeOfMap(this.word(tagged - 1n + BigInt(this.layout.off.map)));
  }

  /** The instance type a map (its tagged pointer, an object's first word) says. */
  typeOfMap(map: bigint): number {
    if (!isHeapObject(map)) throw new V8ReadError('object without a valid map');
    let type = this.mapTypes.get(map);
    if (type === undefined) {
      type = this.read(map - 1n + BigInt(this.layout.off.mapInstanceType), 2).readUInt16LE(0);
      this.mapTypes.set(map, type);
    }
    return type;
  }

  /** typeOf, or undefined for a word that does not lead to a readable object. */
  typeIfObject(word: bigint): number | undefined {
    if (!isHeapObject(word)) return undefined;
    try {
      return this.typeOf(word);
    } catch (e) {
      if (e instanceof V8ReadError) return undefined;
      throw e;
    }
  }

  /** The object's untagged address, after checking its type against `accept`. */
  expect(tagged: bigint, what: string, accept: (type: number) => boolean): bigint {
    const type = this.typeOf(tagged);
    if (!accept(type)) throw new V8ReadError(`${what} expected, instance type ${type} found`);
    return tagged - 1n;
  }

  /** An object's first `length` bytes and its instance type, in one read; undefined if unreadable. */
  header(tagged: bigint, length: number): { bytes: Buffer; type: number } | undefined {
    if (!isHeapObject(tagged)) return undefined;
    try {
      const bytes = this.read(tagged - 1n, length);
      return { bytes, type: this.typeOfMap(bytes.readBigUInt64LE(this.layout.off.map)) };
    } catch (e) {
      if (e instanceof V8ReadError) return undefined;
      throw e;
    }
  }

  /** A tagged field of an object (untagged address). */
  field(obj: bigint, offset: number): bigint {
    return this.word(obj + BigInt(offset));
  }

  isString(tagged: bigint): boolean {
    return isHeapObject(tagged) && this.typeOf(tagged) < this.layout.type.firstNonString;
  }

  /** A V8 string's text, at most maxChars (longer: a V8ReadError). Lone surrogates become U+FFFD. */
  string(tagged: bigint, maxChars = MAX_NAME_CHARS): string {
    const parts: string[] = [];
    this.appendString(tagged, 0, -1, maxChars, parts, 0);
    return wellFormed(parts.join(''));
  }

  /** Appends chars [from, from + count) of the string (count −1: to its end). Returns chars appended. */
  private appendString(
    tagged: bigint,
    from: number,
    count: number,
    maxChars: number,
    out: string[],
    depth: number,
  ): number {
    if (depth > MAX_STRING_DEPTH) throw new V8ReadError('string nested too deeply');
    const s = this.layout.string;
    const type = this.typeOf(tagged);
    if (type >= this.layout.type.firstNonString) throw new V8ReadError(`string expected, instance type ${type} found`);
    const obj = tagged - 1n;
    const length = this.read(obj + BigInt(this.layout.off.stringLength), 4).readInt32LE(0);
    if (length < 0 || from > length) throw new V8ReadError('bad string length');
    const n = count < 0 ? length - from : count;
    if (n < 0 || from + n > length) throw new V8ReadError('bad string range');
    if (n > maxChars) throw new V8ReadError(`string of ${n} characters: too long`);
    if (n === 0) return 0;
    switch (type & s.representationMask) {
      case s.seq: {
        const oneByte = (type & s.encodingMask) === s.oneByte;
        const width = oneByte ? 1 : 2;
        const bytes = this.readLong(obj + BigInt(this.layout.off.seqChars + from * width), n * width);
        out.push(bytes.toString(oneByte ? 'latin1' : 'utf16le'));
        return n;
      }
      case s.cons: {
        const first = this.field(obj, this.layout.off.consFirst);
        const second = this.field(obj, this.layout.off.consSecond);
        const firstLength = this.lengthOf(first);
        let done = 0;
        if (from < firstLength)
          done = this.appendString(first, from, Math.min(n, firstLength - from), maxChars, out, depth + 1);
        if (done < n)
          done += this.appendString(second, Math.max(0, from - firstLength), n - done, maxChars, out, depth + 1);
        return done;
      }
      case s.thin:
        return this.appendString(this.field(obj, this.layout.off.thinActual), from, n, maxChars, out, depth + 1);
      case s.sliced: {
        const offset = this.field(obj, this.layout.off.slicedOffset);
        if (!isSmi(offset) || smiValue(offset) < 0) throw new V8ReadError('bad sliced string offset');
        return this.appendString(
          this.field(obj, this.layout.off.slicedParent),
          smiValue(offset) + from,
          n,
          maxChars,
          out,
          depth + 1,
        );
      }
      case s.external:
        throw new V8ReadError('external string (its characters are outside the V8 heap)');
      default:
        throw new V8ReadError(`unknown string representation ${type & s.representationMask}`);
    }
  }

  private lengthOf(tagged: bigint): number {
    if (!this.isString(tagged)) throw new V8ReadError('string expected');
    const length = this.read(tagged - 1n + BigInt(this.layout.off.stringLength), 4).readInt32LE(0);
    if (length < 0) throw new V8ReadError('bad string length');
    return length;
  }

  /** Reads more than one call may (readMemory caps a call at 1 MiB). */
  readLong(addr: bigint, length: number): Buffer {
    const CHUNK = 1 << 20;
    if (length <= CHUNK) return this.read(addr, length);
    const parts: Buffer[] = [];
    for (let done = 0; done < length; done += CHUNK)
      parts.push(this.read(addr + BigInt(done), Math.min(CHUNK, length - done)));
    return Buffer.concat(parts);
  }

  /** A FixedArray's (or ByteArray's) length, bounded. */
  arrayLength(obj: bigint, max: number): number {
    const w = this.field(obj, this.layout.off.fixedArrayLength);
    if (!isSmi(w)) throw new V8ReadError('array length is not a Smi');
    const n = smiValue(w);
    if (n < 0 || n > max) throw new V8ReadError(`array length ${n} out of bounds`);
    return n;
  }
}
