// A bounds-checked little-endian cursor over DWARF data: every read past `end` throws an
// ElfError, so a corrupt section ends its parse instead of reading garbage.
import { ElfError } from '../elf/elf-file';

export class DwarfReader {
  constructor(
    readonly buf: Buffer,
    public pos = 0,
    readonly end = buf.length,
  ) {}

  need(n: number): void {
    if (this.pos + n > this.end) throw new ElfError('DWARF: read past the end');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++];
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  /** A 64-bit value that must fit a Number (offsets, lengths). */
  u64(): number {
    const v = this.u64big();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfError('DWARF: 64-bit value out of range');
    return Number(v);
  }
  u64big(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.pos);
    this.pos += 8;
    return v;
  }
  uN(n: number): number {
    if (n === 1) return this.u8();
    if (n === 2) return this.u16();
    if (n === 3) {
      this.need(3);
      const v = this.buf.readUIntLE(this.pos, 3);
      this.pos += 3;
      return v;
    }
    if (n === 4) return this.u32();
    return this.u64();
  }
  /** An offset into another section: 4 bytes, or 8 in 64-bit DWARF. */
  offset(is64: boolean): number {
    return is64 ? this.u64() : this.u32();
  }
  /** A target address of `size` bytes. */
  address(size: number): bigint {
    if (size === 8) return this.u64big();
    if (size === 4) return BigInt(this.u32());
    throw new ElfError(`DWARF: address size ${size}`);
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new ElfError('DWARF: LEB128 too long');
  }
  sleb(): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.u8();
      result += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) return b & 0x40 ? result - mul : result;
    }
    throw new ElfError('DWARF: LEB128 too long');
  }
  skip(n: number): void {
    this.need(n);
    this.pos += n;
  }
  cstr(): string {
    const z = this.buf.indexOf(0, this.pos);
    if (z < 0 || z >= this.end) throw new ElfError('DWARF: unterminated string');
    const s = this.buf.toString('utf8', this.pos, z);
    this.pos = z + 1;
    return s;
  }
}
