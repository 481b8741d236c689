// Names for JIT code from /tmp/perf-<pid>.map, the file V8 (--perf-basic-prof), the JVM
// agents, LuaJIT, etc. append to: one `START SIZE name` line per code object, hex numbers.
// The file is append-only and code addresses get reused, so the newest line covering an
// address wins. Lines are resolved into disjoint segments, then looked up by binary search.
// Addresses are Numbers here: JIT code lives in user space, below 2^53 on every 64-bit Linux
// (lines that are not are skipped as malformed).
//
// The target writes this file, so nothing about it is trusted: it is opened by the rule of
// target-file.ts, read in chunks (never whole), only its newest WINDOW_BYTES are parsed, lines
// longer than MAX_LINE are skipped, names are cut at MAX_NAME, and at most MAX_ENTRIES lines
// are kept (the newest). A map that grew is parsed from where the last read stopped: the new
// lines form a new level of segments, newer than all before it (levels merge as they grow, so
// an appended line costs O(log n), not a re-parse). Parsing lines and resolving segments are
// native (symbols/perf_map.h): interpreted, a fresh CLI spent 20 ms on a busy node's 2,700 lines.
import * as fs from 'node:fs';
import { binding, type RawPerfMapLines } from '../addon';
import { startedAtMs, startTicks } from '../procfs/process-start';
import { LruCache } from './lru-cache';
import { openTargetFile, targetRoot, type TargetRoot } from './target-file';

/** Only the newest this many bytes of a map are parsed (the oldest lines name stale code). */
export const WINDOW_BYTES = 32 * 1024 * 1024;
/** Longer lines are skipped: no runtime writes them, and a huge one would become a huge name. */
export const MAX_LINE = 8192;
/** Longer names are cut here, marked with an ellipsis. */
export const MAX_NAME = 1024;
/** Most lines kept; beyond it the oldest half is dropped. */
export const MAX_ENTRIES = 1_000_000;
/** Bytes read at a time. */
const CHUNK = 1 << 20;
const EMPTY = Buffer.alloc(0);

export interface PerfMapHit {
  name: string;
  /** address − entry start */
  offset: number;
}

/**
 * Parsed lines in file order (the order decides who wins an overlap). Append-only. Held in
 * typed arrays, names as UTF-8 bytes in one pool (decoded when looked up): a million lines as
 * JS numbers and strings cost ~200 MB and long GC pauses.
 */
class Entries {
  start = new Float64Array(1024);
  end = new Float64Array(1024);
  nameAt = new Uint32Array(1024);
  nameLen = new Uint16Array(1024);
  names = Buffer.allocUnsafe(64 * 1024);
  namesUsed = 0;
  length = 0;

  /** A copy of entries [from, to) (names keep their offsets: the pool is shared, read-only below namesUsed). */
  slice(from: number, to: number): Entries {
    const e = new Entries();
    e.start = this.start.slice(from, Math.max(to, from + 1));
    e.end = this.end.slice(from, Math.max(to, from + 1));
    e.nameAt = this.nameAt.slice(from, Math.max(to, from + 1));
    e.nameLen = this.nameLen.slice(from, Math.max(to, from + 1));
    // New names go to a pool of their own: the shared one may be appended to by its owner.
    e.names = Buffer.concat([this.names.subarray(0, this.namesUsed)]);
    e.namesUsed = this.namesUsed;
    e.length = to - from;
    return e;
  }

  name(i: number): string {
    return this.names.toString('utf8', this.nameAt[i], this.nameAt[i] + this.nameLen[i]);
  }

  private grow(): void {
    const n = this.start.length * 2;
    const widen = <T extends Float64Array | Uint32Array | Uint16Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.start = widen(this.start, (k) => new Float64Array(k));
    this.end = widen(this.end, (k) => new Float64Array(k));
    this.nameAt = widen(this.nameAt, (k) => new Uint32Array(k));
    this.nameLen = widen(this.nameLen, (k) => new Uint16Array(k));
  }

  /** Appends lines parsed natively (their names move into the pool). */
  append(lines: RawPerfMapLines): void {
    const n = lines.start.length;
    while (this.length + n > this.start.length) this.grow();
    if (this.namesUsed + lines.names.length > this.names.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.names.length * 2, this.namesUsed + lines.names.length));
      this.names.copy(bigger, 0, 0, this.namesUsed);
      this.names = bigger;
    }
    lines.names.copy(this.names, this.namesUsed);
    this.start.set(lines.start, this.length);
    this.end.set(lines.end, this.length);
    this.nameLen.set(lines.nameLen, this.length);
    for (let i = 0; i < n; i++) this.nameAt[this.length + i] = this.namesUsed + lines.nameAt[i];
    this.namesUsed += lines.names.length;
    this.length += n;
  }
}

/**
 * Splits bytes into lines for `entries`, across chunk boundaries, skipping over-long lines
 * without holding them. `consumed` counts the bytes up to and including the last newline.
 */
class LineReader {
  private carry: Buffer = EMPTY;
  /** Inside a line already longer than MAX_LINE: drop bytes up to its newline. */
  skipping = false;
  consumed = 0;

  constructor(private readonly entries: Entries) {}

  feed(chunk: Buffer): void {
    const bytes = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const lines = binding.parsePerfMapLines(bytes, this.skipping, MAX_LINE, MAX_NAME);
    this.entries.append(lines);
    if (lines.consumed > 0) this.skipping = false;
    const rest = bytes.length - lines.consumed;
    this.consumed += lines.consumed;
    if (this.skipping || rest > MAX_LINE) {
      // An over-long line: its bytes count as read, it is never parsed.
      this.consumed += rest;
      this.carry = EMPTY;
      this.skipping = true;
    } else {
      this.carry = rest > 0 ? Buffer.from(bytes.subarray(lines.consumed)) : EMPTY;
    }
  }

  /** The text ended: a last line without a newline counts (for whole texts, not files). */
  end(): void {
    if (!this.skipping && this.carry.length > 0) {
      this.entries.append(binding.parsePerfMapLines(Buffer.concat([this.carry, NEWLINE]), false, MAX_LINE, MAX_NAME));
    }
    this.carry = EMPTY;
  }
}

const NEWLINE = Buffer.from('\n');

/** Disjoint segments over entries [from, to), each owned by the newest entry covering it. */
class Level {
  readonly segStart: Float64Array;
  readonly segEnd: Float64Array;
  /** Entry index owning each segment; the entry's own start gives the symbol offset. */
  readonly segOwner: Uint32Array;

  constructor(
    entries: Entries,
    readonly from: number,
    readonly to: number,
  ) {
    const segs = binding.perfMapSegments(entries.start, entries.end, from, to);
    this.segStart = segs.start;
    this.segEnd = segs.end;
    this.segOwner = segs.owner;
  }

  /** The entry owning address a, or −1. */
  find(a: number): number {
    const s = this.segStart;
    let l = 0;
    let r = s.length - 1;
    let k = -1;
    while (l <= r) {
      const mid = (l + r) >>> 1;
      if (s[mid] <= a) {
        k = mid;
        l = mid + 1;
      } else {
        r = mid - 1;
      }
    }
    return k < 0 || a >= this.segEnd[k] ? -1 : this.segOwner[k];
  }
}

/** Lines streamed into `reader`, then map(): the map with them appended. */
interface PerfMapAppender {
  reader: LineReader;
  map(): PerfMap;
}

export class PerfMap {
  /** Oldest first; each level's entries are all newer than every older level's. */
  private readonly levels: Level[];

  private constructor(
    private readonly entries: Entries,
    levels: Level[],
  ) {
    this.levels = levels;
  }

  /** A map of all the entries, as one level (oldest half dropped beyond MAX_ENTRIES). */
  static of(entries: Entries): PerfMap {
    if (entries.length > MAX_ENTRIES) {
      const drop = entries.length - Math.floor(MAX_ENTRIES / 2);
      entries = entries.slice(drop, entries.length);
    }
    return new PerfMap(entries, entries.length === 0 ? [] : [new Level(entries, 0, entries.length)]);
  }

  /** Parses a whole text (its last line needs no newline). */
  static parse(text: string): PerfMap {
    const e = new Entries();
    const r = new LineReader(e);
    r.feed(Buffer.from(text, 'utf8'));
    r.end();
    return PerfMap.of(e);
  }

  /** Number of entries (lines) kept. */
  get entryCount(): number {
    return this.levels.length === 0 ? 0 : this.levels[this.levels.length - 1].to - this.levels[0].from;
  }

  lookup(addr: bigint): PerfMapHit | undefined {
    if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const a = Number(addr);
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const owner = this.levels[i].find(a);
      if (owner >= 0) return { name: this.entries.name(owner), offset: a - this.entries.start[owner] };
    }
    return undefined;
  }

  /** A new map with the lines of `text` appended (this one stays as it is). */
  extend(text: string): PerfMap {
    const a = this.appender();
    a.reader.feed(Buffer.from(text, 'utf8'));
    a.reader.end();
    return a.map();
  }

  /**
   * Appends streamed lines: feed() chunks, then map() for the new map. Entries are shared
   * (append-only; this map never looks past its own levels), levels are not.
   */
  appender(): PerfMapAppender {
    const from = this.levels.length === 0 ? 0 : this.levels[this.levels.length - 1].to;
    let entries = this.entries;
    if (entries.length !== from) {
      // Extended before, from this same state: the newer lines are not ours to keep.
      entries = this.entries.slice(0, from);
    }
    const reader = new LineReader(entries);
    const levels = this.levels;
    return {
      reader,
      map: () => {
        if (entries.length > MAX_ENTRIES) return PerfMap.of(entries);
        const next = levels.slice();
        let lo = from;
        // Merge while the new level is at least as large as the one before (a binary counter).
        while (next.length > 0 && entries.length - lo >= next[next.length - 1].to - next[next.length - 1].from) {
          lo = (next.pop() as Level).from;
        }
        if (entries.length > lo) next.push(new Level(entries, lo, entries.length));
        return new PerfMap(entries, next);
      },
    };
  }

  /** An empty map's appender: the first read of a file. */
  static fresh(): PerfMapAppender {
    return new PerfMap(new Entries(), []).appender();
  }
}
/**
 * How much older than its process a map may look and still be its own: the start time is
 * reckoned from /proc/uptime, which the kernel rounds to 10 ms, and file times may be coarse.
 */
const START_SLACK_MS = 1000;

function writtenBefore(ticks: string, mtimeMs: number): boolean {
  return mtimeMs < startedAtMs(ticks) - START_SLACK_MS;
}

/**
 * Whether a perf map file (its mtime) was last written before process pid started: node never
 * removes its map, so such a file is an earlier process's with the same pid, not this one's.
 */
export function leftByEarlierProcess(pid: number, mtimeMs: number): boolean {
  const ticks = startTicks(pid);
  return ticks !== undefined && writtenBefore(ticks, mtimeMs);
}

interface CachedPerfMap {
  /** The process the map was read for (its start time): a pid reused by another is another. */
  startTicks: string | undefined;
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** Bytes up to and including the last newline: a partly written last line is re-read later. */
  parsedBytes: number;
  /** The read stopped inside an over-long line: the next one skips to its newline. */
  skipping: boolean;
  map: PerfMap;
}

/** Parsed perf maps by pid, re-read only when the file changed (and then only what was appended). */
export class PerfMapCache {
  private readonly byPid = new LruCache<number, CachedPerfMap>(64);
  /** Why the last get() found no map (refused, unreadable), by pid. */
  private readonly failures = new Map<number, string>();
  parses = 0;
  /** Bytes read from perf maps so far (an append costs what was appended). */
  bytesRead = 0;

  /** Forgets every parsed map (the next get() reads the file anew). */
  clear(): void {
    this.byPid.clear();
    this.failures.clear();
  }

  static pathFor(pid: number): string {
    return `/tmp/perf-${pid}.map`;
  }

  /**
   * Where the process's perf map is: a JIT writes /tmp/perf-<its pid>.map as it sees them. In
   * a container that is its pid in its own namespace (the last NSpid field), under its own
   * root; when its root is not accessible, our /tmp under the pid as we see it.
   */
  static locate(pid: number): { file: string; where: TargetRoot } {
    const where = targetRoot(pid);
    let nspid = pid;
    try {
      const line = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      const inner = line?.[1].trim().split(/\s+/).pop();
      if (inner !== undefined && /^\d+$/.test(inner)) nspid = Number(inner);
    } catch {
      // no status (gone, or offline): the pid as given
    }
    return { file: PerfMapCache.pathFor(nspid), where };
  }

  /** Why get(pid) last returned null while a perf map exists (it was refused or unreadable). */
  failureOf(pid: number): string | undefined {
    return this.failures.get(pid);
  }

  private fail(pid: number, why: string): void {
    if (this.failures.size >= 64) this.failures.clear();
    this.failures.set(pid, why);
  }

  get(pid: number): PerfMap | null {
    const { file, where } = PerfMapCache.locate(pid);
    return this.read(pid, file, where);
  }

  /** get() of the map at `file` (as the target sees it, under `where`), cached under `pid`. */
  read(pid: number, file: string, where: TargetRoot): PerfMap | null {
    const opened = openTargetFile(file, where);
    if ('failure' in opened) {
      if (opened.missing) this.failures.delete(pid);
      else this.fail(pid, `perf map ${file} refused: ${opened.failure}`);
      return null;
    }
    this.failures.delete(pid);
    const { fd, st } = opened;
    try {
      // node never removes its map: one last written before this process started was left by
      // an earlier process with the same pid, and would name this one's frames after another's.
      const ticks = startTicks(pid);
      if (ticks !== undefined && writtenBefore(ticks, st.mtimeMs)) {
        this.fail(pid, `perf map ${file} refused: last written before the process started (an earlier process's)`);
        return null;
      }
      const cached = this.byPid.get(pid);
      const old = cached?.startTicks === ticks ? cached : undefined;
      const same = old !== undefined && old.dev === st.dev && old.ino === st.ino;
      if (same && old.size === st.size && old.mtimeMs === st.mtimeMs) return old.map;
      // Same file, longer: the writer appended; parse only what follows the last read (unless
      // that is more than the window: then the window, anew). Shorter or another file: anew.
      const append = same && st.size > old.size && st.size - old.parsedBytes <= WINDOW_BYTES;
      // A window starts one byte early: up to the first newline is skipped (a partial line),
      // and when that byte is a line's end, the newline itself is all that is skipped.
      const from = append ? old.parsedBytes : Math.max(0, st.size - WINDOW_BYTES - 1);
      const appender = append ? old.map.appender() : PerfMap.fresh();
      const reader = appender.reader;
      reader.skipping = append ? old.skipping : from > 0;
      const buf = Buffer.allocUnsafe(CHUNK);
      for (let pos = from; pos < st.size;) {
        const n = fs.readSync(fd, buf, 0, Math.min(CHUNK, st.size - pos), pos);
        if (n === 0) break;
        reader.feed(buf.subarray(0, n));
        pos += n;
        this.bytesRead += n;
      }
      this.parses++;
      const map = appender.map();
      this.byPid.set(pid, {
        startTicks: ticks,
        dev: st.dev,
        ino: st.ino,
        size: st.size,
        mtimeMs: st.mtimeMs,
        parsedBytes: from + reader.consumed,
        skipping: reader.skipping,
        map,
      });
      return map;
    } catch (e) {
      this.fail(pid, `perf map unreadable: ${(e as Error).message}`);
      return null;
    } finally {
      fs.closeSync(fd);
    }
  }
}

// ---- How runtimes name their code in the map, made readable ----
//
// A frame's `symbol` keeps the map's name as the runtime wrote it: that is what perf and
// py-spy print and what profiles aggregate on. Only the text output shows it split, as
// readableJitName below maps it (this is the one place that knows these conventions):
//
//   V8 (node --perf-basic-prof): `<tag>:<tier><name> <script>:<line>:<column>`
//     tag   JS (a function; LazyCompile / Function in older V8), Script (top-level code), Eval
//     tier  ~ interpreted (Ignition), ^ baseline (Sparkplug), + Maglev, * optimized (TurboFan)
//     The position is where the function is defined, not the line running.
//     `JS:*isPrime /app/w.js:42:17`  ->  isPrime   (JS optimized, /app/w.js:42:17)
//     `JS:~ /app/w.js:1:1`           ->  (anonymous)   (JS interpreted, /app/w.js:1:1)
//   CPython 3.12+ (-X perf): `py::<qualified name>:<file>`
//     `py::Job.run:/app/job.py`      ->  Job.run   (Python, /app/job.py)
// Any other name (V8's `Builtin:…`, `Stub:…`, other JITs) is shown as written.

export interface ReadableJitName {
  /** The function's name alone: `isPrime`, `(anonymous)`, `(top level)`. */
  name: string;
  /** The runtime, the code's tier and where the function is defined: `JS optimized, /app/w.js:42:17`. */
  note: string;
}

const V8_NAME = /^(JS|LazyCompile|Function|Script|Eval):([~^+*]?)(.*)$/s;
const V8_TIERS: Record<string, string> = { '~': 'interpreted', '^': 'baseline', '+': 'maglev', '*': 'optimized' };
/** How a V8 script name begins (an absolute path, node's built-in modules, URLs, `[eval]`). */
const SCRIPT_START = /^(\/|node:|file:|https?:|webpack:|\[)/;

/** The parts of a JIT name that follow a known runtime's convention; null for any other name. */
export function readableJitName(raw: string): ReadableJitName | null {
  const v8 = V8_NAME.exec(raw);
  if (v8 !== null) {
    const [, tag, marker, rest] = v8;
    // `<name> <script>:<line>:<col>`: names may hold spaces (`get size`), and so may paths; the
    // script starts at the first space followed by something that starts a script name.
    let split = -1;
    for (let i = rest.indexOf(' '); i >= 0; i = rest.indexOf(' ', i + 1)) {
      if (SCRIPT_START.test(rest.slice(i + 1))) {
        split = i;
        break;
      }
    }
    if (split < 0) split = rest.lastIndexOf(' ');
    const name = split < 0 ? rest : rest.slice(0, split);
    const where = split < 0 ? '' : rest.slice(split + 1);
    const unnamed = tag === 'Script' ? '(top level)' : tag === 'Eval' ? '(eval)' : '(anonymous)';
    const kind = ['JS', V8_TIERS[marker]].filter(Boolean).join(' ');
    return { name: name === '' ? unnamed : name, note: where === '' ? kind : `${kind}, ${where}` };
  }
  if (raw.startsWith('py::')) {
    const colon = raw.indexOf(':', 4);
    if (colon <= 4) return null;
    return { name: raw.slice(4, colon), note: `Python, ${raw.slice(colon + 1)}` };
  }
  return null;
}
