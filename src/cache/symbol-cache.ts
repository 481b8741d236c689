// A module's merged symbol index, kept in the persistent cache: the merge (sorting node's 78k
// symbols) is most of what a cold snapshot spends parsing files, and it gives the same result
// for the same files every time. The entry holds the index columns only; names stay in the
// file's own string tables. It is keyed by the identity (device, inode,
// size, mtime, ctime) of every file the symbols come from, the build-id and the symbol sections'
// headers, so a file changed in any way (rebuilt in place, even with its mtime put back: ctime
// moves) is a different key. What is read is checked like anything else from disk: exact
// length, a checksum, and every index entry against the string tables it points into; an entry
// that fails is ignored and written anew. On a hit the names are read from the files one by one
// as frames ask for them (FileStrings), not whole.
import { binding, type RawSymbolIndex } from '../addon';
import { readBuildId } from '../elf/build-id';
import { FdSource, type ElfFile } from '../elf/elf-file';
import { bufferStrings, FileStrings, type StringTable } from '../elf/file-strings';
import { stringTableOf, SymbolTable, type PrebuiltSymbols, type SymbolSource } from '../elf/symbols';
import { cacheDir } from './cache-dir';
import { entryName, readEntry, writeEntry } from './cache-file';
import { checksum } from './checksum';
import { framed, unframed } from './entry-frame';
import { fileIdentity } from './file-identity';

const MAGIC = Buffer.from('STKSYM01');
/** Bytes per index entry: size f64, hi, lo, nameOff u32, parent i32, table u16. */
const ENTRY_BYTES = 8 + 4 + 4 + 4 + 4 + 2;

interface Header {
  key: string;
  n: number;
  sourcesUsed: number[];
  strtabs: number[];
  sum: string;
}

/**
 * The key of the symbols built from `sources` of the module file `main`, or null when a source
 * has no identity to check (a module read from memory). A source in another in-memory file
 * (MiniDebugInfo's embedded ELF) is derived from `main`, whose identity the key holds.
 */
export function symbolsKey(sources: readonly SymbolSource[], main: ElfFile): string | null {
  const mainId = fileIdentity(main);
  if (mainId === null) return null;
  const parts = [`v1 main=${mainId} build-id=${readBuildId(main) ?? '-'}`];
  for (const { elf, symtab } of sources) {
    const id = elf === main ? 'main' : (fileIdentity(elf) ?? 'derived');
    parts.push(`${id} ${symtab.type}:${symtab.offset}:${symtab.size}:${symtab.link}:${symtab.entsize}`);
  }
  return parts.join('\n');
}

const align = (n: number, to: number): number => Math.ceil(n / to) * to;

/** The columns laid out in one buffer (8-aligned f64 first), padded to whole 32-bit words. */
function columnsLayout(n: number): {
  size: number;
  hi: number;
  lo: number;
  off: number;
  parent: number;
  table: number;
  end: number;
} {
  const size = 0;
  const hi = size + 8 * n;
  const lo = hi + 4 * n;
  const off = lo + 4 * n;
  const parent = off + 4 * n;
  const table = parent + 4 * n;
  return { size, hi, lo, off, parent, table, end: align(table + 2 * n, 4) };
}

export function encodeSymbols(key: string, table: SymbolTable): Uint8Array[] {
  const idx = table.index;
  const n = idx.hi.length;
  const l = columnsLayout(n);
  const body = new Uint8Array(l.end);
  body.set(new Uint8Array(idx.size.buffer, idx.size.byteOffset, 8 * n), l.size);
  body.set(new Uint8Array(idx.hi.buffer, idx.hi.byteOffset, 4 * n), l.hi);
  body.set(new Uint8Array(idx.lo.buffer, idx.lo.byteOffset, 4 * n), l.lo);
  body.set(new Uint8Array(idx.nameOff.buffer, idx.nameOff.byteOffset, 4 * n), l.off);
  body.set(new Uint8Array(idx.parent.buffer, idx.parent.byteOffset, 4 * n), l.parent);
  body.set(new Uint8Array(idx.table.buffer, idx.table.byteOffset, 2 * n), l.table);
  const header: Header = {
    key,
    n,
    sourcesUsed: [...table.sourcesUsed],
    strtabs: table.stringTableLengths,
    sum: checksum(body),
  };
  return framed(MAGIC, header, body);
}

/** The entry's header, checked for shape, and its body; null when it is not a symbol entry. */
function parseEntry(buf: Buffer): { header: Header; body: Uint8Array } | null {
  const entry = unframed(buf, MAGIC);
  if (entry === null) return null;
  const h = entry.header as Header;
  const ints = (a: unknown): a is number[] => Array.isArray(a) && a.every((x) => Number.isSafeInteger(x) && x >= 0);
  if (typeof h !== 'object' || h === null || typeof h.key !== 'string') return null;
  if (!Number.isSafeInteger(h.n) || h.n < 0 || !ints(h.sourcesUsed) || !ints(h.strtabs)) return null;
  if (h.sourcesUsed.length !== h.strtabs.length || typeof h.sum !== 'string') return null;
  return { header: h, body: entry.body };
}

/**
 * A source's string table: read from its file name by name when it lies in one (a snapshot
 * names few frames; node's .strtab is 7.5 MB), else from memory (MiniDebugInfo's ELF).
 */
function stringTable(src: SymbolSource, link: number): StringTable {
  const header = src.elf.sections[link]!;
  const { source } = src.elf;
  if (source instanceof FdSource && header.offset + header.size <= source.size) {
    const lazy = FileStrings.open(source.fd, header.offset, header.size);
    if (lazy !== null) return lazy;
  }
  return bufferStrings(src.elf.sectionData(header));
}

/** The string tables the entry names, in the files themselves; null when one differs. */
function stringTables(sources: readonly SymbolSource[], header: Header): StringTable[] | null {
  const out: StringTable[] = [];
  const done = (result: StringTable[] | null): StringTable[] | null => {
    if (result === null) for (const t of out) if (t instanceof FileStrings) t.close();
    return result;
  };
  try {
    for (let i = 0; i < header.sourcesUsed.length; i++) {
      const src = sources[header.sourcesUsed[i]];
      const link = src === undefined ? undefined : stringTableOf(src);
      if (src === undefined || link === undefined) return done(null);
      if (src.elf.sections[link]!.size !== header.strtabs[i]) return done(null);
      out.push(stringTable(src, link));
    }
  } catch (e) {
    done(null);
    throw e;
  }
  return done(out);
}

/** The index an entry holds, checked against `key` and the sources; null when unusable. */
export function decodeSymbols(buf: Buffer, key: string, sources: readonly SymbolSource[]): PrebuiltSymbols | null {
  const parsed = parseEntry(buf);
  if (parsed === null || parsed.header.key !== key) return null;
  const { header, body } = parsed;
  const l = columnsLayout(header.n);
  if (body.length !== l.end || header.n * ENTRY_BYTES > buf.length) return null;
  if (checksum(body) !== header.sum) return null;
  const n = header.n;
  const at = body.byteOffset;
  const index: RawSymbolIndex = {
    size: new Float64Array(body.buffer, at + l.size, n),
    hi: new Uint32Array(body.buffer, at + l.hi, n),
    lo: new Uint32Array(body.buffer, at + l.lo, n),
    nameOff: new Uint32Array(body.buffer, at + l.off, n),
    parent: new Int32Array(body.buffer, at + l.parent, n),
    table: new Uint16Array(body.buffer, at + l.table, n),
  };
  // Every entry points into its string tables and its parent precedes it (a lookup follows
  // parents: a cycle would never end). What the checksum vouches for beyond that (order,
  // sizes) can only misname, and only in a file we wrote ourselves.
  if (!binding.checkSymbolIndex(index, header.strtabs)) return null;
  let strtabs: StringTable[] | null;
  try {
    strtabs = stringTables(sources, header);
  } catch {
    return null; // a section outside the file
  }
  if (strtabs === null) return null;
  return { index, strtabs, sourcesUsed: header.sourcesUsed };
}

/**
 * The module's symbol table: from the persistent cache when it holds this very build of these
 * files, else merged anew (and stored for the next run). Never throws for the cache's sake.
 */
export function symbolTableFor(sources: SymbolSource[], main: ElfFile): SymbolTable {
  const dir = cacheDir();
  let key: string | null;
  try {
    key = dir === null ? null : symbolsKey(sources, main);
  } catch {
    key = null; // fstat failed: no identity to check an entry against
  }
  if (dir === null || key === null) return new SymbolTable(sources);
  const name = entryName('sym', key);
  const cached = readEntry(dir, name, binding.mapFile);
  const prebuilt = cached === null ? null : decodeSymbols(cached, key, sources);
  if (prebuilt !== null) return new SymbolTable(sources, prebuilt);
  const table = new SymbolTable(sources);
  writeEntry(dir, name, encodeSymbols(key, table));
  return table;
}
