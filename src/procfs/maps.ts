// Parsing of /proc/<pid>/maps: the address-space layout every pc is resolved against.
// Addresses stay BigInt end to end: user space on x86-64/aarch64 fits in 2^53 today, but
// the kernel's format is 64-bit and a silent precision loss would name the wrong function.

export interface MapEntry {
  start: bigint;
  end: bigint;
  /** e.g. 'r-xp' */
  perms: string;
  offset: bigint;
  /** 'major:minor' in hex, e.g. 'fe:01' */
  dev: string;
  inode: number;
  /** '' for anonymous; '[stack]', '[vdso]', '/usr/lib/.../libc.so.6' */
  path: string;
  /** The path ended with ' (deleted)' (stripped from path). */
  deleted: boolean;
}

const DELETED_SUFFIX = ' (deleted)';

/** Skips one run of spaces starting at i; returns the index of the next non-space. */
function skipSpaces(line: string, i: number): number {
  while (i < line.length && line.charCodeAt(i) === 0x20) i++;
  return i;
}

/** Reads one space-delimited field starting at i; returns [field, indexAfterField]. */
function field(line: string, i: number): [string, number] {
  const j = line.indexOf(' ', i);
  const end = j < 0 ? line.length : j;
  return [line.slice(i, end), end];
}

const HEX = /^[0-9a-fA-F]+$/;

/** Parses one maps line; undefined when it does not have the kernel's shape. */
export function parseMapsLine(line: string): MapEntry | undefined {
  const [range, i1] = field(line, 0);
  const [perms, i2] = field(line, skipSpaces(line, i1));
  const [offset, i3] = field(line, skipSpaces(line, i2));
  const [dev, i4] = field(line, skipSpaces(line, i3));
  const [inode, i] = field(line, skipSpaces(line, i4));

  const dash = range.indexOf('-');
  if (dash <= 0) return undefined;
  const startHex = range.slice(0, dash);
  const endHex = range.slice(dash + 1);
  if (!HEX.test(startHex) || !HEX.test(endHex) || !HEX.test(offset)) return undefined;
  if (perms.length !== 4 || !/^\d+$/.test(inode)) return undefined;

  // The kernel pads the inode column with spaces up to a fixed width; everything after the
  // padding is the path, which may itself contain spaces (so no split on whitespace).
  let path = line.slice(skipSpaces(line, i));
  let deleted = false;
  if (path.endsWith(DELETED_SUFFIX)) {
    deleted = true;
    path = path.slice(0, -DELETED_SUFFIX.length);
  }
  return {
    start: BigInt('0x' + startHex),
    end: BigInt('0x' + endHex),
    perms,
    offset: BigInt('0x' + offset),
    dev,
    inode: Number(inode),
    path,
    deleted,
  };
}

/** The last text parseMaps parsed, and its entries: a snapshot parses the same text two or three times. */
let last: { text: string; entries: readonly MapEntry[] } | undefined;

/**
 * Parses the whole text of /proc/<pid>/maps; malformed lines are skipped. Sorted by start. The
 * array is shared with every caller that passes the same text, and frozen.
 */
export function parseMaps(text: string): readonly MapEntry[] {
  if (last?.text !== text) last = { text, entries: Object.freeze(parseMapsText(text)) };
  return last.entries;
}

function parseMapsText(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  let sorted = true;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    const e = parseMapsLine(line);
    if (e === undefined) continue;
    if (out.length > 0 && out[out.length - 1].start > e.start) sorted = false;
    out.push(e);
  }
  // The kernel already emits ascending order; sort only crafted or concatenated input.
  if (!sorted) out.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  return out;
}

/**
 * Where a pc lies, as frames report it: the mapping's path ('[anon]' for anonymous memory) and
 * the pc's offset in the mapped file (its offset in the mapping for anonymous memory).
 */
export function placeInMapping(m: MapEntry, pc: bigint): { module: string; moduleOffset: bigint } {
  return { module: m.path === '' ? '[anon]' : m.path, moduleOffset: pc - m.start + m.offset };
}

/** The mapping containing addr (start <= addr < end), by binary search over sorted maps. */
export function findMapping(maps: readonly MapEntry[], addr: bigint): MapEntry | undefined {
  let lo = 0;
  let hi = maps.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (maps[mid].start <= addr) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return undefined;
  const m = maps[found];
  return addr < m.end ? m : undefined;
}
