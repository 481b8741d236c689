// One file of the persistent cache: read only when it is a regular file we own that nobody
// else may write, capped in size; written whole to a private temporary name and renamed into
// place, so concurrent writers of one entry each leave a complete file (the last rename wins)
// and a reader never sees a partial one. The directory is kept under a byte budget by removing
// the least recently used entries (reads refresh an entry's mtime).
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Entries larger than this are neither written nor read. */
export const MAX_ENTRY_BYTES = 64 << 20;
/** The directory's budget: writing past it removes the oldest entries. */
export const MAX_CACHE_BYTES = 256 << 20;
/** What pruning brings the directory down to, so that it does not run on every write. */
const PRUNE_TO = (MAX_CACHE_BYTES * 3) / 4;

/**
 * Our entry names: `<kind>-<16 hex>.bin`, and `<kind>-<40 hex>.bin` as earlier versions named
 * them (a SHA-1; pruned like the others). Nothing else in the directory is touched.
 */
const ENTRY_NAME = /^[a-z][a-z0-9]*-(?:[0-9a-f]{16}|[0-9a-f]{40})\.bin$/;

export function entryName(kind: string, key: string): string {
  return `${kind}-${nameHash(key)}.bin`;
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const hex8 = (n: number): string => (n >>> 0).toString(16).padStart(8, '0');

/**
 * 64 bits for a file name: FNV-1a of the key's UTF-8 bytes, forwards and backwards. In plain
 * JavaScript: the code cache's entry is named before the addon is loaded, node:zlib costs 1.3 ms
 * to load, and 64-bit arithmetic on BigInts 0.1 ms per name.
 */
function nameHash(key: string): string {
  const bytes = Buffer.from(key);
  let forward = FNV_OFFSET;
  let backward = FNV_OFFSET;
  for (let i = 0, j = bytes.length - 1; j >= 0; i++, j--) {
    forward = Math.imul(forward ^ bytes[i]!, FNV_PRIME);
    backward = Math.imul(backward ^ bytes[j]!, FNV_PRIME);
  }
  return hex8(forward) + hex8(backward);
}

/** A temporary name in our own private directory, unique with O_EXCL: unguessable is not needed. */
let written = 0;
const temporaryName = (): string => `.tmp-${process.pid}-${Date.now().toString(36)}-${written++}`;

/** Maps a file's first `length` bytes into memory (the addon's mapFile); null when it cannot. */
export type MapFile = (fd: number, length: number) => Buffer | null;

/**
 * The entry's bytes, or null when it is missing, not ours, open to others' writes, or too big.
 * With `map`, an entry is mapped, not read: our entries are replaced by rename, never cut short
 * in place, so a mapping of one stays whole.
 */
export function readEntry(dir: string, name: string, map?: MapFile): Buffer | null {
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, name), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return null;
    if (st.size > MAX_ENTRY_BYTES) return null;
    const buf = (st.size > 0 ? map?.(fd, st.size) : null) ?? readWhole(fd, st.size);
    const now = new Date();
    fs.futimesSync(fd, now, now); // recently used: pruned last
    return buf;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}

/** The file's `size` bytes; null when it is shorter. */
function readWhole(fd: number, size: number): Buffer | null {
  const buf = Buffer.allocUnsafe(size);
  let done = 0;
  while (done < size) {
    const n = fs.readSync(fd, buf, done, size - done, done);
    if (n === 0) return null; // shrank while read: another writer's rename is not in place
    done += n;
  }
  return buf;
}

/** Writes the entry atomically; a failure (full disk, read-only) leaves the cache as it was.
 *  Never throws: the cache only ever saves work. */
export function writeEntry(dir: string, name: string, chunks: readonly Uint8Array[]): void {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  if (total > MAX_ENTRY_BYTES) return;
  const tmp = path.join(dir, temporaryName());
  let fd: number | undefined;
  try {
    fd = fs.openSync(
      tmp,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o600,
    );
    for (const c of chunks) {
      for (let done = 0; done < c.byteLength;) done += fs.writeSync(fd, c, done);
    }
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path.join(dir, name));
  } catch {
    try {
      if (fd !== undefined) fs.closeSync(fd);
      fs.rmSync(tmp, { force: true });
    } catch {
      // the temporary name is ours and private; at worst it stays behind
    }
    return;
  }
  prune(dir);
}

/** Removes least recently used entries while the directory holds more than its budget. */
export function prune(dir: string, budget = MAX_CACHE_BYTES): void {
  let entries: { file: string; size: number; mtimeMs: number }[];
  try {
    entries = fs
      .readdirSync(dir)
      .filter((f) => ENTRY_NAME.test(f))
      .flatMap((f) => {
        try {
          const st = fs.lstatSync(path.join(dir, f));
          return st.isFile() ? [{ file: f, size: st.size, mtimeMs: st.mtimeMs }] : [];
        } catch {
          return []; // removed meanwhile
        }
      });
  } catch {
    return;
  }
  let total = entries.reduce((n, e) => n + e.size, 0);
  if (total <= budget) return;
  const target = budget === MAX_CACHE_BYTES ? PRUNE_TO : (budget * 3) / 4;
  entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const e of entries) {
    if (total <= target) break;
    try {
      fs.rmSync(path.join(dir, e.file), { force: true });
    } catch {
      continue; // not removable (read-only): still counted, the next one may be
    }
    total -= e.size;
  }
}
