// Debug sections as bytes. Sections may be SHF_COMPRESSED (Debian's debug files are): zlib is
// inflated with node:zlib, and only as far as needed (a prefix); zstd is not supported (Node 20
// has no zstd). node:zlib is loaded on the first compressed section: loading it cost every cold
// CLI 1.3 ms, and most snapshots read none.
import type * as Zlib from 'node:zlib';

import { ElfError, SHT_NOBITS, type ElfFile, type SectionHeader } from '../elf/elf-file';

const SHF_COMPRESSED = 0x800;
const ELFCOMPRESS_ZLIB = 1;
const CHDR_SIZE = 24;
/** Give up on sections that claim to be larger than this once decompressed. */
const MAX_SECTION = 512 << 20;

/**
 * Up to `need` bytes from the start of a section's contents, inflating a compressed section
 * only as far as needed: the compressed input is fed in growing prefixes and inflated with
 * Z_SYNC_FLUSH, which yields the output of a truncated stream without an error.
 */
export function sectionPrefix(elf: ElfFile, s: SectionHeader, need: number): Buffer {
  if (s.type === SHT_NOBITS) return Buffer.alloc(0);
  if ((s.flags & SHF_COMPRESSED) === 0) return elf.source.read(s.offset, Math.min(s.size, need));
  if (s.size < CHDR_SIZE) throw new ElfError(`${s.name}: compressed section too small`);
  const ch = elf.source.read(s.offset, CHDR_SIZE);
  const type = ch.readUInt32LE(0);
  const size = ch.readBigUInt64LE(8);
  if (type !== ELFCOMPRESS_ZLIB) throw new ElfError(`${s.name}: compression type ${type} (only zlib is supported)`);
  if (size > BigInt(MAX_SECTION)) throw new ElfError(`${s.name}: ${size} bytes decompressed is too large`);
  const want = Math.min(need, Number(size));
  const total = s.size - CHDR_SIZE;
  // The whole section: one pass over all the input (growing prefixes would inflate it twice).
  let inLen = want === Number(size) ? total : Math.min(total, Math.max(64 << 10, want >>> 2));
  for (;;) {
    const input = elf.source.read(s.offset + CHDR_SIZE, inLen);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const zlib = require('node:zlib') as typeof Zlib;
    const out = zlib.inflateSync(input, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
    if (out.length >= want || inLen === total) return out.subarray(0, Math.min(out.length, want));
    inLen = Math.min(total, inLen * 2);
  }
}

/** The whole contents of a section (decompressed), bounded by `max` bytes. */
export function sectionBytes(elf: ElfFile, s: SectionHeader, max = MAX_SECTION): Buffer {
  return sectionPrefix(elf, s, max);
}

/** The whole contents of the section called `name`, or undefined when the file has none. */
export function namedSection(elf: ElfFile, name: string): Buffer | undefined {
  const s = elf.section(name);
  return s === undefined || s.size === 0 ? undefined : sectionBytes(elf, s);
}
