// Finding the separate debug file of a stripped binary. Distributions strip .symtab from
// shipped libraries and install it (when the -dbg package is present) as a file found by the
// binary's GNU build-id, or by the name and CRC32 in its .gnu_debuglink section. The debug
// file keeps the binary's section and segment addresses, so its .symtab applies unchanged.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cString, ElfFile, FdSource, SHT_NOTE } from './elf-file';
import { openTargetFile, type TargetRoot } from '../symbolize/target-file';

const NT_GNU_BUILD_ID = 3;
export const DEBUG_ROOT = '/usr/lib/debug';
/** Larger candidate debug files are refused (the biggest real ones are a few hundred MB). */
const MAX_DEBUG_FILE = 4 * 2 ** 30;

/** Notes are (namesz, descsz, type, name padded to 4, desc padded to 4). */
function findGnuNote(data: Buffer, wantType: number): Buffer | undefined {
  let o = 0;
  while (o + 12 <= data.length) {
    const namesz = data.readUInt32LE(o);
    const descsz = data.readUInt32LE(o + 4);
    const type = data.readUInt32LE(o + 8);
    const nameStart = o + 12;
    const descStart = nameStart + ((namesz + 3) & ~3);
    const next = descStart + ((descsz + 3) & ~3);
    // Unsigned sizes near 2^32 would wrap `& ~3` negative; any of these means garbage.
    if (namesz > data.length || descsz > data.length || descStart < nameStart || next > data.length + 3)
      return undefined;
    if (
      type === wantType &&
      namesz === 4 &&
      data.toString('latin1', nameStart, nameStart + 3) === 'GNU' &&
      descStart + descsz <= data.length
    ) {
      return data.subarray(descStart, descStart + descsz);
    }
    if (next <= o) return undefined;
    o = next;
  }
  return undefined;
}

/** The GNU build-id as lowercase hex, from note sections or, without sections, PT_NOTE. */
export function readBuildId(elf: ElfFile): string | null {
  const ranges: { offset: number; size: number }[] = [];
  for (const s of elf.sections) if (s.type === SHT_NOTE) ranges.push(s);
  if (ranges.length === 0) ranges.push(...elf.notes);
  for (const r of ranges) {
    let data: Buffer;
    try {
      data = elf.source.read(r.offset, r.size);
    } catch {
      continue;
    }
    const id = findGnuNote(data, NT_GNU_BUILD_ID);
    if (id !== undefined && id.length > 0) return id.toString('hex');
  }
  return null;
}

export interface DebugLink {
  file: string;
  crc: number;
}

/** .gnu_debuglink: a file name, NUL, padding to 4, then the debug file's CRC32. */
export function readDebugLink(elf: ElfFile): DebugLink | null {
  const s = elf.section('.gnu_debuglink');
  if (s === undefined || s.size > 4096) return null;
  const data = elf.sectionData(s);
  const file = cString(data, 0, 4096);
  const crcAt = (file.length + 1 + 3) & ~3;
  if (file.length === 0 || file.includes('/') || crcAt + 4 > data.length) return null;
  return { file, crc: data.readUInt32LE(crcAt) };
}

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE, reflected 0xEDB88320), the checksum .gnu_debuglink stores. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

function fileCrc32(fd: number): number {
  const buf = Buffer.allocUnsafe(1 << 20);
  let crc = 0;
  let pos = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) return crc;
    crc = crc32(buf.subarray(0, n), crc);
    pos += n;
  }
}

/** An opened debug file. The caller owns fd and must close it once done with elf. */
export interface DebugFile {
  path: string;
  fd: number;
  elf: ElfFile;
  /** The file's identity: a later open of `path` must find the same one. */
  dev: number;
  ino: number;
}

/**
 * Opens a candidate by the target-file rule (the target names these files: through its
 * debuglink, its build-id and its own root). A FIFO or device is never opened, so never
 * blocks; neither is a file its user could not read.
 */
function tryOpen(
  file: string,
  where: TargetRoot,
  accept: (elf: ElfFile, fd: number) => boolean,
  refused?: string[],
): DebugFile | null {
  const opened = openTargetFile(file, where);
  if ('failure' in opened) {
    if (!opened.missing) refused?.push(`debug file ${where.root}${file} refused: ${opened.failure}`);
    return null;
  }
  const { fd, st, path: at } = opened;
  if (st.size > MAX_DEBUG_FILE) {
    // Its CRC alone would read it all.
    refused?.push(`debug file ${at} refused: larger than ${MAX_DEBUG_FILE / 2 ** 30} GiB`);
    fs.closeSync(fd);
    return null;
  }
  try {
    const elf = new ElfFile(new FdSource(fd, st.size));
    if (accept(elf, fd)) return { path: at, fd, elf, dev: st.dev, ino: st.ino };
  } catch {
    // A broken debug file is as good as none.
  }
  fs.closeSync(fd);
  return null;
}

/**
 * Locates the debug file for `elf` (the binary at `modulePath` as the target sees it).
 * `roots` are where to look: a plain string is a path prefix ('' for this machine's
 * /usr/lib/debug, '/proc/<pid>/root' for a target in another mount namespace) read with no
 * permission check; a TargetRoot also checks the target's user could read the file.
 * Candidates that exist but were refused (a FIFO, unreadable to the target's user) are
 * described in `refused`.
 */
export function findDebugFile(
  elf: ElfFile,
  modulePath: string,
  roots: readonly (string | TargetRoot)[],
  refused?: string[],
): DebugFile | null {
  const where = roots.map((r) => (typeof r === 'string' ? { root: r, creds: null } : r));
  const buildId = readBuildId(elf);
  if (buildId !== null && buildId.length > 2) {
    const rel = `${DEBUG_ROOT}/.build-id/${buildId.slice(0, 2)}/${buildId.slice(2)}.debug`;
    for (const root of where) {
      // The build-id is a content hash: a file under that name with another id is not ours.
      const found = tryOpen(rel, root, (d) => readBuildId(d) === buildId, refused);
      if (found !== null) return found;
    }
  }
  const link = readDebugLink(elf);
  if (link !== null && modulePath.startsWith('/')) {
    const dir = path.posix.dirname(modulePath);
    const candidates = [`${dir}/${link.file}`, `${dir}/.debug/${link.file}`, `${DEBUG_ROOT}${dir}/${link.file}`];
    for (const root of where) {
      for (const c of candidates) {
        if (c === modulePath) continue; // a debuglink naming the binary itself
        const found = tryOpen(c, root, (_d, fd) => fileCrc32(fd) === link.crc, refused);
        if (found !== null) return found;
      }
    }
  }
  return null;
}
