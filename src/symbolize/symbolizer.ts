// Turns captured pcs into `symbol+offset (module)`, synchronously (snapshotSync needs it).
// Per pc: find the mapping in the maps text captured with the stacks, turn the address into
// a file offset, then into the module's link-time address through its PT_LOADs, then look
// the symbol up. Files are parsed once and cached by file identity; each process's mappings
// are remembered too, so a repeated call on an unchanged process touches no file at all.
import * as fs from 'node:fs';
import { BufferSource, ElfFile, fileOffsetToVaddr, FdSource, type LoadSegment } from '../elf/elf-file';
import { InlineIndex, type InlineExpansion } from '../dwarf/inline-index';
import { LineTable } from '../dwarf/line-table';
import type { XzDecompress } from '../elf/mini-debuginfo';
import { findPltStub, pltStubs, type PltStub } from '../elf/plt';
import { SymbolHit } from '../elf/symbols';
import { findMapping, MapEntry, parseMaps, placeInMapping } from '../procfs/maps';
import { readBuildId } from '../elf/build-id';
import { LruCache } from './lru-cache';
import { failedModule, loadElfModule, Module, releaseModule } from './module-cache';
import { openMappedFile } from './mapped-file';
import { reopenTargetFile, targetRoot, type TargetRoot } from './target-file';
import { PerfMap, PerfMapCache } from './perf-map';
import { lookupAddress } from '../stack/lookup-address';

export interface PcToName {
  pc: bigint;
  /** Return addresses are looked up at pc − 1: the call may be a function's last instruction. */
  isReturnAddress: boolean;
}

export interface NamedPc {
  /** Mapping path ('[vdso]', '[anon]' for anonymous memory, or the file path); null if the pc is in no mapping. */
  module: string | null;
  /** File offset: pc − map.start + map.offset. */
  moduleOffset: bigint | null;
  /** Demangled; null when unknown (never '??'). */
  symbol: string | null;
  /** pc − symbol start, with the original pc (not pc − 1). */
  symbolOffset: number | null;
  /** Why symbol is null (absent when there is a name). */
  reason?: string;
  /** Source file and line, when asked for (`lines`) and the module has .debug_line. */
  file?: string;
  line?: number;
  /** With `lines`: the calls inlined at this pc (from .debug_info), innermost first. */
  inlined?: InlinedName[];
  /** The (looked-up) pc lies in the function at its file's ELF entry point: where a process starts. */
  atEntryPoint?: true;
}

/** A call inlined into a physical frame: its function (demangled) and where execution is in it. */
export interface InlinedName {
  symbol: string | null;
  file?: string;
  line?: number;
}

export interface SymbolizerOptions {
  /** Demangler for C++ and Rust names (the addon's); null means "not mangled". */
  demangle?: (mangled: string) => string | null;
  /** Memory the cached modules may hold together, about (default 256 MiB). */
  maxCacheBytes?: number;
  /** xz decoder (the addon's xzDecompress) for MiniDebugInfo; without it .gnu_debugdata is not read. */
  xzDecompress?: XzDecompress;
}

/** Most files kept parsed, and the memory they may hold together (node alone: ~20 MB). */
const MODULE_CAP = 256;
const MODULE_BYTES_CAP = 256 * 1024 * 1024;
/** Processes whose mapping→module table is remembered. */
const PROCESS_CAP = 32;
const DEMANGLE_CAP = 65536;
/** Looked-up pcs remembered per process. */
const MEMO_CAP = 65536;
/** The vdso is one or two pages; anything far larger in that slot is not a vdso. */
const VDSO_MAX = 1 << 20;

/** What we know about one process: its last maps text and the module of each mapping. */
interface ProcessView {
  mapsText: string;
  entries: MapEntry[];
  modules: Map<string, Module>;
  /** The same, by entry object: the warm path, without building a key string per pc. */
  byEntry: Map<MapEntry, Module>;
  /** The previous view's table, consulted for mappings that survived a maps change. */
  previous?: Map<string, Module>;
  /** The roots under which debug files are searched for this process. */
  debugRoots: TargetRoot[];
  /** What the native unwinder needs of these mappings, built on first use. */
  unwindMappings?: BigUint64Array;
  /**
   * Names of file-backed pcs already looked up, by lookup address (pc − 1 for return
   * addresses): repeated snapshots meet the same return addresses again and again. JIT code is
   * not memoised: its perf map may name an address anew.
   */
  memo: Map<bigint, NamedPc>;
}

const NO_NAME: NamedPc = {
  module: null,
  moduleOffset: null,
  symbol: null,
  symbolOffset: null,
  reason: 'in no mapping',
};

function mappingKey(m: MapEntry): string {
  return `${m.start.toString(16)}-${m.end.toString(16)} ${m.offset.toString(16)} ${m.dev} ${m.inode} ${m.path}`;
}

/** Why a pc in a file-backed module has no name. */
function unnamedReason(mod: Module, vaddr: bigint | undefined): string {
  if (mod.symbols === null) return `module unusable: ${mod.reason ?? 'unknown'}`;
  if (vaddr === undefined) return "outside the file's loadable segments";
  const why = mod.symbols.length === 0 ? 'the file has no function symbols' : 'no function symbol covers this address';
  // A partial failure (damaged MiniDebugInfo) may be why.
  return mod.reason === undefined ? why : `${why} (${mod.reason})`;
}

const PF_X = 1;

/**
 * The PT_LOAD segment a mapping shows: one its file range overlaps, executable if the mapping
 * is. Linkers that pack segments without page padding (lld) give one file page to two
 * segments, e.g. the end of the read-only one and the start of the code: the code's mapping
 * overlaps both.
 */
function loadOfMapping(loads: LoadSegment[], m: MapEntry): LoadSegment | undefined {
  const size = m.end - m.start;
  const overlapping = loads.filter((l) => l.offset < m.offset + size && l.offset + l.filesz > m.offset);
  const executable = m.perms[2] === 'x';
  return overlapping.find((l) => ((l.flags & PF_X) !== 0) === executable) ?? overlapping[0];
}

export class Symbolizer {
  /** loadNs: time spent opening and parsing module files (the cold path's cost), cumulative. */
  readonly stats = { modulesParsed: 0, cacheHits: 0, loadNs: 0 };
  private readonly demangler?: (mangled: string) => string | null;
  private readonly xzDecompress?: XzDecompress;
  /** Parsed modules by file identity: dev, inode, size, mtime of the opened file. */
  private readonly files: LruCache<string, Module>;
  /**
   * The same file seen under another identity (a container's copy of a library, a reinstall
   * of the same build): build-id and size → the identity it was parsed under.
   */
  private readonly byBuildId = new LruCache<string, string>(MODULE_CAP * 2);
  /** Modules pushed out of `files`, released at the start of the next call (see retire()). */
  private evicted: Module[] = [];
  private readonly processes = new LruCache<number, ProcessView>(PROCESS_CAP);
  private readonly perfMaps = new PerfMapCache();
  private readonly demangled = new Map<string, string>();
  private readonly hit: SymbolHit = { index: 0, offset: 0 };

  constructor(options: SymbolizerOptions = {}) {
    this.demangler = options.demangle;
    this.xzDecompress = options.xzDecompress;
    this.files = new LruCache<string, Module>(MODULE_CAP, {
      weigh: (mod) => mod.bytes,
      maxWeight: options.maxCacheBytes ?? MODULE_BYTES_CAP,
      onEvict: (_key, mod) => this.evicted.push(mod),
    });
  }

  /** With `lines`, frames in modules with debug info also get their source file and line. */
  symbolize(pid: number, maps: string, pcs: PcToName[], options: { lines?: boolean } = {}): NamedPc[] {
    this.retire();
    const lines = options.lines === true;
    const view = this.view(pid, maps);
    let perfMap: PerfMap | null | undefined; // read at most once per call, and only if needed
    const out: NamedPc[] = new Array(pcs.length);
    for (let i = 0; i < pcs.length; i++) {
      const { pc, isReturnAddress } = pcs[i];
      const at = lookupAddress(pc, isReturnAddress);
      const delta = at === pc ? 0 : 1;
      const known = lines ? undefined : view.memo.get(at);
      if (known !== undefined) {
        this.stats.cacheHits++;
        out[i] =
          delta === 0
            ? known
            : {
                ...known,
                moduleOffset: known.moduleOffset === null ? null : known.moduleOffset + 1n,
                symbolOffset: known.symbolOffset === null ? null : known.symbolOffset + 1,
              };
        continue;
      }
      const m = findMapping(view.entries, at);
      if (m === undefined) {
        out[i] = NO_NAME;
        continue;
      }
      const { module, moduleOffset } = placeInMapping(m, pc);
      if (m.path.startsWith('/') || m.path === '[vdso]') {
        const mod = this.moduleFor(pid, view, m);
        const vaddr = fileOffsetToVaddr(mod.loads, at - m.start + m.offset);
        let stub: PltStub | undefined;
        if (vaddr !== undefined && mod.symbols !== null && mod.symbols.lookup(vaddr, this.hit)) {
          out[i] = {
            module: m.path,
            moduleOffset,
            symbol: this.nameOf(mod.symbols.name(this.hit.index)),
            symbolOffset: this.hit.offset + delta,
          };
        } else if (
          vaddr !== undefined &&
          mod.loads.length > 0 &&
          (stub = findPltStub(this.pltOf(pid, m, mod), vaddr)) !== undefined
        ) {
          out[i] = {
            module: m.path,
            moduleOffset,
            symbol: stub.name,
            symbolOffset: Number(vaddr - stub.vaddr) + delta,
          };
        } else {
          out[i] = {
            module: m.path,
            moduleOffset,
            symbol: null,
            symbolOffset: null,
            reason: unnamedReason(mod, vaddr),
          };
        }
        if (vaddr !== undefined && mod.entry !== undefined && vaddr >= mod.entry.start && vaddr < mod.entry.end) {
          out[i].atEntryPoint = true;
        }
        this.remember(view, at, out[i], delta);
        if (lines && vaddr !== undefined) {
          const src = this.lineTableOf(pid, m, mod)?.lookup(vaddr) ?? null;
          const calls = mod.inlines?.lookup(vaddr, src) ?? null;
          if (calls !== null) out[i] = { ...out[i], ...calls.source, inlined: this.inlinedNames(calls) };
          else if (src) out[i] = { ...out[i], file: src.file, line: src.line };
        }
        continue;
      }
      // Anonymous or special memory: JIT code, named by the process's perf map if it has one.
      if (perfMap === undefined) perfMap = this.perfMaps.get(pid);
      const jit = perfMap?.lookup(at);
      out[i] =
        jit === undefined
          ? {
              module,
              moduleOffset,
              symbol: null,
              symbolOffset: null,
              reason: perfMap
                ? 'not in the perf map'
                : (this.perfMaps.failureOf(pid) ?? 'anonymous memory and no perf map'),
            }
          : { module, moduleOffset, symbol: jit.name, symbolOffset: jit.offset + delta };
    }
    return out;
  }

  /**
   * Every mapping as the unwinder takes it: [start, end, bias, (cfi << 1) | executable], where
   * an address's link-time address in its module is address − bias. Executable file mappings
   * load their module (the same one that names the frames) for its unwind table.
   */
  unwindMappings(pid: number, maps: string): BigUint64Array {
    this.retire();
    const view = this.view(pid, maps);
    if (view.unwindMappings !== undefined) return view.unwindMappings;
    const out = new BigUint64Array(view.entries.length * 4);
    view.entries.forEach((m, i) => {
      const executable = m.perms[2] === 'x';
      let bias = 0n;
      let cfi = 0;
      if (executable && (m.path.startsWith('/') || m.path === '[vdso]')) {
        const mod = this.moduleFor(pid, view, m);
        const load = loadOfMapping(mod.loads, m);
        if (load !== undefined && mod.cfi !== 0) {
          // vaddr = (address − m.start + m.offset) − p_offset + p_vaddr
          bias = BigInt.asUintN(64, m.start - m.offset + load.offset - load.vaddr);
          cfi = mod.cfi;
        }
      }
      out[i * 4] = m.start;
      out[i * 4 + 1] = m.end;
      out[i * 4 + 2] = bias;
      out[i * 4 + 3] = BigInt(cfi * 2 + (executable ? 1 : 0));
    });
    view.unwindMappings = out;
    return out;
  }

  /** Empties every cache, freeing the native unwind tables (the next call parses anew). */
  clear(): void {
    this.files.clear();
    this.byBuildId.clear();
    this.retire();
    this.perfMaps.clear();
    this.demangled.clear();
  }

  /** The memory the cached modules hold, about (bytes), and how many there are. */
  get cacheSize(): { modules: number; bytes: number } {
    return { modules: this.files.size, bytes: this.files.totalWeight };
  }

  /**
   * Releases modules the cache let go of. Done between calls, not at eviction: mappings handed
   * out earlier in a snapshot (unwindMappings) may still name their unwind tables. The process
   * views may still hold them too, so those are dropped and rebuilt from the cache.
   */
  private retire(): void {
    if (this.evicted.length === 0) return;
    for (const mod of this.evicted) releaseModule(mod);
    this.evicted = [];
    this.processes.clear();
  }

  /**
   * The module's line table, built on first use from its debug file, else from the file itself;
   * its index of inlined calls (mod.inlines) is built from the same file at the same time.
   */
  private lineTableOf(pid: number, m: MapEntry, mod: Module): LineTable | null {
    if (mod.lineTable !== undefined) return mod.lineTable;
    // The file itself is opened through this mapping: the module may have been parsed for
    // another process, since gone (its map_files path with it).
    let fd: number;
    if (mod.debugFile !== undefined && mod.debugFileId !== undefined) {
      const opened = reopenTargetFile(mod.debugFile, mod.debugFileId);
      if ('failure' in opened) return null;
      fd = opened.fd;
    } else {
      const opened = openMappedFile(pid, m);
      if ('failure' in opened) return null; // not cached: another mapping of it may open
      fd = opened.fd;
    }
    mod.lineTable = null;
    mod.inlines = null;
    try {
      const elf = new ElfFile(new FdSource(fd, fs.fstatSync(fd).size));
      try {
        mod.lineTable = LineTable.build(elf);
      } catch {
        // corrupt .debug_line: no lines, but inlined calls may still be named
      }
      mod.inlines = InlineIndex.build(elf, mod.lineTable);
    } catch {
      // unreadable or corrupt debug info: frames keep their symbols, without lines
    } finally {
      fs.closeSync(fd);
    }
    // The module grew: count it again against the cache's budget.
    mod.bytes += (mod.lineTable?.bytes ?? 0) + (mod.inlines?.bytes ?? 0);
    if (mod.cacheKey !== undefined && this.files.get(mod.cacheKey) === mod) this.files.set(mod.cacheKey, mod);
    return mod.lineTable;
  }

  private inlinedNames(calls: InlineExpansion): InlinedName[] {
    return calls.calls.map((c) => ({
      symbol: c.name === null ? null : c.linkage ? this.nameOf(c.name) : c.name,
      ...c.source,
    }));
  }

  /** Stores a file-backed result by lookup address, with the offsets of `at` itself. */
  private remember(view: ProcessView, at: bigint, named: NamedPc, delta: number): void {
    if (view.memo.size >= MEMO_CAP) view.memo.clear();
    view.memo.set(at, {
      ...named,
      moduleOffset: named.moduleOffset === null ? null : named.moduleOffset - BigInt(delta),
      symbolOffset: named.symbolOffset === null ? null : named.symbolOffset - delta,
    });
  }

  /** The process's view for this maps text, re-parsed only when the text changed. */
  private view(pid: number, maps: string): ProcessView {
    const old = this.processes.get(pid);
    if (old !== undefined && old.mapsText === maps) return old;
    // A target in another mount namespace has its debug files under its own root; then ours.
    // Either way the target names them (debuglink, build-id): read as its user could.
    const where = targetRoot(pid);
    const debugRoots = where.root === '' ? [where] : [where, { root: '', creds: where.creds }];
    const view: ProcessView = {
      mapsText: maps,
      entries: parseMaps(maps),
      modules: new Map(),
      byEntry: new Map(),
      previous: old?.modules,
      debugRoots,
      memo: new Map(),
    };
    this.processes.set(pid, view);
    return view;
  }

  private moduleFor(pid: number, view: ProcessView, m: MapEntry): Module {
    const known = view.byEntry.get(m);
    if (known !== undefined) {
      this.stats.cacheHits++;
      return known;
    }
    const key = mappingKey(m);
    let mod = view.modules.get(key) ?? view.previous?.get(key);
    if (mod !== undefined) {
      this.stats.cacheHits++;
    } else {
      const t0 = process.hrtime.bigint();
      mod = m.path === '[vdso]' ? this.loadVdso(pid, m) : this.loadFile(pid, view, m);
      this.stats.loadNs += Number(process.hrtime.bigint() - t0);
    }
    view.modules.set(key, mod);
    view.byEntry.set(m, mod);
    return mod;
  }

  /** Parses the mapped file unless its identity (or its build) is cached. */
  private loadFile(pid: number, view: ProcessView, m: MapEntry): Module {
    const opened = openMappedFile(pid, m);
    if ('failure' in opened) return failedModule(opened.failure);
    const { fd, st } = opened;
    try {
      const fileKey = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      const cached = this.files.get(fileKey);
      if (cached !== undefined) {
        this.stats.cacheHits++;
        return cached;
      }
      let elf: ElfFile;
      try {
        elf = new ElfFile(new FdSource(fd, st.size));
      } catch (e) {
        const failed = failedModule(`ELF: ${(e as Error).message}`);
        this.files.set(fileKey, failed);
        return failed;
      }
      // Another identity of the same build (its bytes hash to the same build-id, and the
      // size rules out a stripped twin): already parsed.
      const id = readBuildId(elf);
      const buildKey = id === null ? undefined : `${id}:${st.size}`;
      const twinKey = buildKey === undefined ? undefined : this.byBuildId.get(buildKey);
      const twin = twinKey === undefined ? undefined : this.files.get(twinKey);
      if (twin !== undefined) {
        this.stats.cacheHits++;
        return twin;
      }
      this.stats.modulesParsed++;
      const mod = loadElfModule(elf, m.path, view.debugRoots, this.xzDecompress);
      mod.cacheKey = fileKey;
      this.files.set(fileKey, mod);
      if (buildKey !== undefined) this.byBuildId.set(buildKey, fileKey);
      return mod;
    } catch (e) {
      return failedModule(`read: ${(e as Error).message}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The module's PLT stubs, found on the first pc no symbol covers (a thread stopped inside a
   * stub): reading the relocations and .dynsym names for them cost the cold path ~15 ms on
   * node, for frames that are rare. The file is opened again through the mapping.
   */
  private pltOf(pid: number, m: MapEntry, mod: Module): PltStub[] {
    if (mod.plt !== undefined) return mod.plt;
    mod.plt = [];
    if (m.path === '[vdso]') return mod.plt; // no PLT in the vdso
    const opened = openMappedFile(pid, m);
    if ('failure' in opened) return mod.plt;
    try {
      mod.plt = pltStubs(new ElfFile(new FdSource(opened.fd, opened.st.size)));
    } catch {
      // unreadable: the stubs stay unnamed
    } finally {
      fs.closeSync(opened.fd);
    }
    return mod.plt;
  }

  /** The vdso exists only in memory: read its image from the target (root or ptrace access). */
  private loadVdso(pid: number, m: MapEntry): Module {
    const size = Number(m.end - m.start);
    if (size <= 0 || size > VDSO_MAX) return failedModule('implausible vdso size');
    let fd: number;
    try {
      fd = fs.openSync(`/proc/${pid}/mem`, 'r');
    } catch (e) {
      return failedModule(`vdso: ${(e as Error).message}`);
    }
    try {
      const buf = Buffer.alloc(size);
      const n = fs.readSync(fd, buf, 0, size, m.start);
      this.stats.modulesParsed++;
      return loadElfModule(new BufferSource(buf.subarray(0, n)), m.path, []);
    } catch (e) {
      return failedModule(`vdso: ${(e as Error).message}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  private nameOf(raw: string): string {
    // _Z: Itanium C++ and legacy Rust; _R: Rust v0.
    if (this.demangler === undefined || !(raw.startsWith('_Z') || raw.startsWith('_R'))) return raw;
    let s = this.demangled.get(raw);
    if (s === undefined) {
      let d: string | null = null;
      try {
        d = this.demangler(raw);
      } catch {
        // A demangler failure must not lose the frame: keep the raw name.
      }
      s = d ?? raw;
      if (this.demangled.size >= DEMANGLE_CAP) this.demangled.clear();
      this.demangled.set(raw, s);
    }
    return s;
  }
}
