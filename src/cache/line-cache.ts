// A module's line table (`--lines`), kept in the persistent cache: parsing libc's .debug_line
// took a cold CLI 120 ms, for the same result from the same file every time. Keyed by the
// identity of the file it was read from (device, inode, size, mtime, ctime: see
// file-identity.ts) and its build-id, so a file changed in any way is another key. What is read
// is checked like anything else from disk: exact length, a checksum, columns of one length, rows
// in address order, units inside the file list; an entry that fails is ignored and written anew.
import { readBuildId } from '../elf/build-id';
import type { ElfFile } from '../elf/elf-file';
import { LineTable, type LineTableParts, type LineUnit } from '../dwarf/line-table';
import { cacheDir } from './cache-dir';
import { entryName, readEntry, writeEntry } from './cache-file';
import { checksum } from './checksum';
import { fileIdentity } from './file-identity';

const MAGIC = Buffer.from('STKLIN01');

interface Header {
  key: string;
  rows: number;
  files: string[];
  units: LineUnit[];
  sum: string;
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** Rows as columns in one buffer: addresses (f64), then file indexes and lines (i32). */
const bodyBytes = (rows: number): number => rows * (8 + 4 + 4);

function encode(key: string, p: LineTableParts): Uint8Array[] {
  const rows = p.addrs.length;
  const body = new Uint8Array(bodyBytes(rows));
  body.set(new Uint8Array(p.addrs.buffer, p.addrs.byteOffset, 8 * rows), 0);
  body.set(new Uint8Array(p.fileIdx.buffer, p.fileIdx.byteOffset, 4 * rows), 8 * rows);
  body.set(new Uint8Array(p.lines.buffer, p.lines.byteOffset, 4 * rows), 12 * rows);
  const header: Header = { key, rows, files: [...p.files], units: p.units, sum: checksum(body) };
  const json = Buffer.from(JSON.stringify(header));
  const head = Buffer.alloc(align(12 + json.length, 8));
  MAGIC.copy(head, 0);
  head.writeUInt32LE(json.length, 8);
  json.copy(head, 12);
  return [head, body];
}

function parseHeader(buf: Buffer): { header: Header; bodyAt: number } | null {
  if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) return null;
  const len = buf.readUInt32LE(8);
  if (12 + len > buf.length) return null;
  let h: Header;
  try {
    h = JSON.parse(buf.toString('utf8', 12, 12 + len)) as Header;
  } catch {
    return null;
  }
  if (typeof h !== 'object' || h === null || typeof h.key !== 'string' || typeof h.sum !== 'string') return null;
  if (!Number.isSafeInteger(h.rows) || h.rows < 0) return null;
  if (!Array.isArray(h.files) || !h.files.every((f) => typeof f === 'string')) return null;
  const unit = (u: unknown): u is LineUnit =>
    Array.isArray(u) &&
    u.length === 4 &&
    u.slice(0, 3).every((x) => Number.isSafeInteger(x) && (x as number) >= 0) &&
    typeof u[3] === 'boolean';
  if (!Array.isArray(h.units) || !h.units.every(unit)) return null;
  return { header: h, bodyAt: align(12 + len, 8) };
}

/** The table an entry holds, checked against `key`; null when unusable. */
export function decodeLines(buf: Buffer, key: string): LineTable | null {
  const parsed = parseHeader(buf);
  if (parsed === null || parsed.header.key !== key) return null;
  const { header, bodyAt } = parsed;
  const rows = header.rows;
  if (buf.length !== bodyAt + bodyBytes(rows)) return null;
  // A copy at offset 0 of its own buffer: typed arrays need aligned offsets.
  const body = new Uint8Array(bodyBytes(rows));
  body.set(buf.subarray(bodyAt));
  if (checksum(body) !== header.sum) return null;
  return LineTable.fromParts({
    addrs: new Float64Array(body.buffer, 0, rows),
    fileIdx: new Int32Array(body.buffer, 8 * rows, rows),
    lines: new Int32Array(body.buffer, 12 * rows, rows),
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
  const cached = readEntry(dir, name);
  const hit = cached === null ? null : decodeLines(cached, key);
  if (hit !== null) return hit;
  const table = LineTable.build(elf);
  if (table !== null) writeEntry(dir, name, encode(key, table.parts()));
  return table;
}
