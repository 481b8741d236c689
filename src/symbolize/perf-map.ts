// Names for JIT code from /tmp/perf-<pid>.map, the file V8 (--perf-basic-prof), the JVM
// agents, LuaJIT, etc. append to: one `START SIZE name` line per code object, hex numbers.
// The file is append-only and code addresses get reused, so the newest line covering an
// address wins. Lines are resolved into disjoint segments once, then looked up by binary
// search. Addresses are Numbers here: JIT code lives in user space, below 2^53 on every
// 64-bit Linux (lines that are not are skipped as malformed).
import * as fs from 'node:fs';
import { LruCache } from './lru-cache';

const HEX = /^(?:0x)?[0-9a-fA-F]+$/;

export interface PerfMapHit {
  name: string;
  /** address − entry start */
  offset: number;
}

/** Raw entries in file order (the order decides who wins an overlap). */
class Entries {
  start: number[] = [];
  end: number[] = [];
  name: string[] = [];

  /** Parses complete lines of text; malformed ones are skipped. */
  add(text: string): void {
    for (const line of text.split('\n')) {
      const a = line.indexOf(' ');
      if (a <= 0) continue;
      const b = line.indexOf(' ', a + 1);
      if (b <= a + 1) continue;
      const startHex = line.slice(0, a);
      const sizeHex = line.slice(a + 1, b);
      if (!HEX.test(startHex) || !HEX.test(sizeHex)) continue;
      const start = parseInt(startHex, 16);
      const size = parseInt(sizeHex, 16);
      const end = start + size;
      if (size === 0 || !Number.isSafeInteger(end)) continue;
      let name = line.slice(b + 1);
      if (name.endsWith('\r')) name = name.slice(0, -1);
      this.start.push(start);
      this.end.push(end);
      this.name.push(name);
    }
  }
}

export class PerfMap {
  private readonly segStart: Float64Array;
  private readonly segEnd: Float64Array;
  /** Entry index owning each segment; the entry's own start gives the symbol offset. */
  private readonly segOwner: Uint32Array;

  constructor(private readonly entries: Entries) {
    const n = entries.start.length;
    // Sweep over all boundaries with a max-heap of active entries by line number: the
    // segment between two boundaries belongs to the newest entry covering it.
    const byStart = Array.from({ length: n }, (_, i) => i).sort((a, b) => entries.start[a] - entries.start[b]);
    const points = Array.from(new Set([...entries.start, ...entries.end])).sort((a, b) => a - b);
    const heap: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const owners: number[] = [];
    let next = 0;
    for (let p = 0; p < points.length - 1; p++) {
      const at = points[p];
      while (next < n && entries.start[byStart[next]] === at) heapPush(heap, byStart[next++]);
      // Expired entries leave lazily, when they surface.
      while (heap.length > 0 && entries.end[heap[0]] <= at) heapPop(heap);
      if (heap.length === 0) continue;
      const owner = heap[0];
      const to = points[p + 1];
      if (owners.length > 0 && owners[owners.length - 1] === owner && ends[ends.length - 1] === at) {
        ends[ends.length - 1] = to;
      } else {
        starts.push(at);
        ends.push(to);
        owners.push(owner);
      }
    }
    this.segStart = Float64Array.from(starts);
    this.segEnd = Float64Array.from(ends);
    this.segOwner = Uint32Array.from(owners);
  }

  static parse(text: string): PerfMap {
    const e = new Entries();
    e.add(text);
    return new PerfMap(e);
  }

  /** Number of entries (lines) parsed. */
  get entryCount(): number {
    return this.entries.start.length;
  }

  lookup(addr: bigint): PerfMapHit | undefined {
    if (addr > BigInt(Number.MAX_SAFE_INTEGER)) return undefined;
    const a = Number(addr);
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
    if (k < 0 || a >= this.segEnd[k]) return undefined;
    const owner = this.segOwner[k];
    return { name: this.entries.name[owner], offset: a - this.entries.start[owner] };
  }

  /** A new map with the complete lines of `text` appended (for a file that grew). */
  extend(text: string): PerfMap {
    const e = new Entries();
    e.start = this.entries.start.slice();
    e.end = this.entries.end.slice();
    e.name = this.entries.name.slice();
    e.add(text);
    return new PerfMap(e);
  }
}

function heapPush(h: number[], v: number): void {
  h.push(v);
  let i = h.length - 1;
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] >= v) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): void {
  const last = h.pop() as number;
  if (h.length === 0) return;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= h.length) break;
    const c = l + 1 < h.length && h[l + 1] > h[l] ? l + 1 : l;
    if (h[c] <= last) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = last;
}

interface CachedPerfMap {
  ino: number;
  size: number;
  mtimeMs: number;
  /** Bytes up to and including the last newline: a partly written last line is re-read later. */
  parsedBytes: number;
  map: PerfMap;
}

/** Parsed perf maps by pid, re-read only when the file changed (and then only what was appended). */
export class PerfMapCache {
  private readonly byPid = new LruCache<number, CachedPerfMap>(64);
  private readonly paths = new LruCache<number, string[]>(64);
  parses = 0;

  /** Forgets every parsed map (the next get() reads the file anew). */
  clear(): void {
    this.byPid.clear();
    this.paths.clear();
  }

  static pathFor(pid: number): string {
    return `/tmp/perf-${pid}.map`;
  }

  /**
   * Where the process's perf map is. A JIT writes /tmp/perf-<its pid>.map as it sees them: in
   * a container that is its pid in its own namespace (the last NSpid field), under its own
   * root. Through /proc/<pid>/root both cases are one path; the plain /tmp path is the fallback
   * when the root is not accessible.
   */
  static candidatesFor(pid: number): string[] {
    let nspid = pid;
    try {
      const line = /^NSpid:\s*(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      const inner = line?.[1].trim().split(/\s+/).pop();
      if (inner !== undefined && /^\d+$/.test(inner)) nspid = Number(inner);
    } catch {
      // no status (gone, or offline): the pid as given
    }
    return [`/proc/${pid}/root/tmp/perf-${nspid}.map`, PerfMapCache.pathFor(pid)];
  }

  get(pid: number): PerfMap | null {
    let fd = -1;
    let candidates = this.paths.get(pid);
    if (candidates === undefined) this.paths.set(pid, (candidates = PerfMapCache.candidatesFor(pid)));
    for (const file of candidates) {
      try {
        fd = fs.openSync(file, 'r');
        break;
      } catch {
        // next candidate
      }
    }
    if (fd === -1) return null;
    try {
      const st = fs.fstatSync(fd);
      const old = this.byPid.get(pid);
      if (old !== undefined && old.ino === st.ino && old.size === st.size && old.mtimeMs === st.mtimeMs) return old.map;
      // Same file, longer: the writer appended; parse only the new complete lines.
      const append = old !== undefined && old.ino === st.ino && st.size > old.size;
      const from = append ? old.parsedBytes : 0;
      const buf = Buffer.allocUnsafe(Math.max(0, st.size - from));
      let got = 0;
      while (got < buf.length) {
        const n = fs.readSync(fd, buf, got, buf.length - got, from + got);
        if (n === 0) break;
        got += n;
      }
      const lastNl = buf.subarray(0, got).lastIndexOf(0x0a);
      const complete = lastNl < 0 ? 0 : lastNl + 1;
      const text = buf.toString('utf8', 0, complete);
      this.parses++;
      const map = append ? old.map.extend(text) : PerfMap.parse(text);
      this.byPid.set(pid, { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, parsedBytes: from + complete, map });
      return map;
    } catch {
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
