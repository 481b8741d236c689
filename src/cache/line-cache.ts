// A module's line table (`--lines`), kept in the persistent cache: parsing libc's .debug_line
// took a cold CLI 120 ms, for the same result from the same file every time. Keyed by the
// identity of the file it was read from (device, inode, size, mtime, ctime: see
// file-identity.ts) and its build-id, so a file changed in any way is another key. What is read
// is checked like anything else from disk: exact length, a checksum, columns of one length, rows
// in address order, units inside the file list; an entry that fails is ignored and written anew.
import { binding } from '../addon';
import { readBuildId } from '../elf/build-id';
import type { ElfFile } from '../elf/elf-file';
import { LineTable, type LineTableParts, type LineUnit } from '../dwarf/line-table';
import { cacheDir } from './cache-dir';
import { entryName, readEntry, writeEntry } from './cache-file';
import { checksum } from './checksum';
import { framed, unframed } from './entry-frame';
import { fileIdentity } from './file-identity';

const MAGIC = Buffer.from('STKLIN01');

interface Header {
  key: string;
  rows: number;
  files: string[];
  units: LineUnit[];
  sum: string;
}

/** Rows as columns in one buffer: addresses (f64), then file indexes and lines (i32). */
const bodyBytes = (rows: number): number => rows * (8 + 4 + 4);

function encode(key: string, p: LineTableParts): Uint8Array[] {
  const rows = p.addrs.length;
  const body = new Uint8Array(bodyBytes(rows));
  body.set(new Uint8Array(p.addrs.buffer, p.addrs.byteOffset, 8 * rows), 0);
  body.set(new Uint8Array(p.fileIdx.buffer, p.fileIdx.byteOffset, 4 * rows), 8 * rows);
  body.set(new Uint8Array(p.lines.buffer, p.lines.byteOffset, 4 * rows), 12 * rows);
  const header: Header = { key, rows, files: [...p.files], units: p.units, sum: checksum(body) };
  return framed(MAGIC, header, body);
}

const isUnit = (u: unknown): u is LineUnit =>
  Array.isArray(u) &&
  u.length === 4 &&
  u.slice(0, 3).every((x) => Number.isSafeInteger(x) && (x as number) >= 0) &&
  typeof u[3] === 'boolean';

/** The entry's header, checked for shape, and its body; null when it is not a line entry. */
function parseEntry(buf: Buffer): { header: Header; body: Uint8Array } | null {
  const entry = unframed(buf, MAGIC);
  if (entry === null) return null;
  const h = entry.header as Header;
  if (typeof h !== 'object' || h === null || typeof h.key !== 'string' || typeof h.sum !== 'string') return null;
  if (!Number.isSafeInteger(h.rows) || h.rows < 0) return null;
  if (!Array.isArray(h.files) || !h.files.every((f) => typeof f === 'string')) return null;
  if (!Array.isArray(h.units) || !h.units.every(isUnit)) return null;
  return { header: h, body: entry.body };
}

/** The table an entry holds, checked against `key`; null when unusable. */
export function decodeLines(buf: Buffer, key: string): LineTable | null {
  const parsed = parseEntry(buf);
  if (parsed === null || parsed.header.key !== key) return null;
  const { header, body } = parsed;
  const rows = header.rows;
  if (body.length !== bodyBytes(rows) || checksum(body) !== header.sum) return null;
  return LineTable.fromParts({
    addrs: new Float64Array(body.buffer, body.byteOffset, rows),
    fileIdx: new Int32Array(body.buffer, body.byteOffset + 8 * rows, rows),
    lines: new Int32Array(body.buffer, body.byteOffset + 12 * rows, rows),
    files: header.files,
    units: header.units,
  });
}

/**
 * The line table of `elf` (a module's debug file, else the module itself): from the persistent
 * cache when it holds this very file, else parsed (and stored for the next run). Null without
 * .debug_line; throws as LineTable.build does.
 */
export function lineTableFor(elf: ElfFile): LineTable | null {
  const dir = cacheDir();
  let key: string | null;
  try {
    const id = dir === null ? null : fileIdentity(elf);
    key = id === null ? null : `lines v1 ${id} build-id=${readBuildId(elf) ?? '-'}`;
  } catch {
    key = null; // fstat failed: no identity to check an entry against
  }
  if (dir === null || key === null) return LineTable.build(elf);
  const name = entryName('lines', key);
  const cached = readEntry(dir, name, binding.mapFile);
  const hit = cached === null ? null : decodeLines(cached, key);
  if (hit !== null) return hit;
  const table = LineTable.build(elf);
  if (table !== null) writeEntry(dir, name, encode(key, table.parts()));
  return table;
}
