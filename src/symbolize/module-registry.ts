// The one owner of parsed modules: which module each mapping of a process shows, the modules
// themselves (cached by file identity and build-id, bounded by the memory they hold), their
// lazily built parts (line tables, PLT stubs) and their native unwind tables, which live as
// long as the module does. Unwinding (unwindMappings) and naming (the symbolizer's resolvers)
// both take their modules from here, so each file is parsed once for both.
import * as fs from 'node:fs';
import { BufferSource, ElfFile, FdSource, type LoadSegment } from '../elf/elf-file';
import { InlineIndex } from '../dwarf/inline-index';
import type { LineTable } from '../dwarf/line-table';
import { lineTableFor } from '../cache/line-cache';
import type { XzDecompress } from '../elf/mini-debuginfo';
import { pltStubs, type PltStub } from '../elf/plt';
import { readBuildId } from '../elf/build-id';
import { parseMaps, type MapEntry } from '../procfs/maps';
import { LruCache } from './lru-cache';
import { addSymbols, failedModule, loadElfModule, loadUnwindModule, type Module, releaseModule } from './module-cache';
import { FILE_CHANGED, openMappedFile } from './mapped-file';
import { reopenTargetFile, targetRoot, type TargetRoot } from './target-file';

export interface ModuleRegistryOptions {
  /** Memory the cached modules may hold together, about (default 256 MiB). */
  maxCacheBytes?: number;
  /** xz decoder (the addon's xzDecompress) for MiniDebugInfo; without it .gnu_debugdata is not read. */
  xzDecompress?: XzDecompress;
  /**
   * The module of a file mapping when the caller has it (a capture file's embedded module, or
   * one it refuses to trust); undefined: open the file. The caller owns what it returns.
   */
  supplied?: (m: MapEntry) => Module | undefined;
}

/**
 * Where pid's debug files are searched. A target in another mount namespace has them under its
 * own root; then ours. Either way the target names them (debuglink, build-id): read as its user could.
 */
export function debugRootsOf(pid: number): TargetRoot[] {
  const where = targetRoot(pid);
  return where.root === '' ? [where] : [where, { root: '', creds: where.creds }];
}

/** Most files kept parsed, and the memory they may hold together (node alone: ~20 MB). */
const MODULE_CAP = 256;
const MODULE_BYTES_CAP = 256 * 1024 * 1024;
/** Processes whose mapping→module table is remembered. */
const PROCESS_CAP = 32;
/** The vdso is one or two pages; anything far larger in that slot is not a vdso. */
const VDSO_MAX = 1 << 20;
const PF_X = 1;

/** What is known about one process: its last maps text and the module of each mapping. */
export interface ProcessView {
  pid: number;
  mapsText: string;
  entries: readonly MapEntry[];
  modules: Map<string, Module>;
  /** The same, by entry object: the warm path, without building a key string per pc. */
  byEntry: Map<MapEntry, Module>;
  /** The previous view's table, consulted for mappings that survived a maps change. */
  previous?: Map<string, Module>;
  /** The roots under which debug files are searched for this process. */
  debugRoots: TargetRoot[];
  /** What the native unwinder needs of these mappings, built on first use. */
  unwindMappings?: UnwindMappings;
}

/**
 * The mappings as the native unwinder takes them (RawUnwindInput.mappings), with the loader of
 * the pending ones (RawUnwindInput.loadMapping), which fills their rows in place.
 */
export interface UnwindMappings {
  rows: BigUint64Array;
  load(row: number): void;
}

/** The flags of an executable mapping whose module is not loaded yet (see RawUnwindInput). */
const PENDING_EXECUTABLE = 0b11n;

/** Row i of the unwinder's mappings for executable mapping m of module mod: its bias and table. */
function fillRow(rows: BigUint64Array, i: number, m: MapEntry, mod: Module): void {
  const load = loadOfMapping(mod.loads, m);
  const cfi = load !== undefined ? mod.cfi : 0;
  // vaddr = (address − m.start + m.offset) − p_offset + p_vaddr
  rows[i * 4 + 2] =
    load !== undefined && cfi !== 0 ? BigInt.asUintN(64, m.start - m.offset + load.offset - load.vaddr) : 0n;
  rows[i * 4 + 3] = BigInt(cfi * 4 + 1);
}

/** A file's identity: the module cache's key. */
function fileKeyOf(st: fs.Stats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
}

/** The build a file holds (build-id and size), when it has a build-id: the same file under another identity. */
function buildKeyOf(elf: ElfFile, st: fs.Stats): string | undefined {
  const id = readBuildId(elf);
  return id === null ? undefined : `${id}:${st.size}`;
}

function mappingKey(m: MapEntry): string {
  return `${m.start.toString(16)}-${m.end.toString(16)} ${m.offset.toString(16)} ${m.dev} ${m.inode} ${m.path}`;
}

/** Whether the mapping shows a module: a file, or the vdso (read from memory). */
export function hasModule(m: MapEntry): boolean {
  return m.path.startsWith('/') || m.path === '[vdso]';
}

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

export class ModuleRegistry {
  /**
   * loadNs: time spent opening and parsing module files (the cold path's cost), cumulative;
   * symbolsRead: modules parsed for unwinding whose symbols were then read to name a frame.
   */
  readonly stats = { modulesParsed: 0, cacheHits: 0, loadNs: 0, symbolsRead: 0 };
  private readonly xzDecompress?: XzDecompress;
  private readonly supplied?: (m: MapEntry) => Module | undefined;
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

  constructor(options: ModuleRegistryOptions = {}) {
    this.xzDecompress = options.xzDecompress;
    this.supplied = options.supplied;
    this.files = new LruCache<string, Module>(MODULE_CAP, {
      weigh: (mod) => mod.bytes,
      maxWeight: options.maxCacheBytes ?? MODULE_BYTES_CAP,
      onEvict: (_key, mod) => this.evicted.push(mod),
    });
  }

  /**
   * The process's view for this maps text, re-parsed only when the text changed. Each call
   * (each snapshot's walk, each naming pass) starts here: modules evicted since are released.
   */
  view(pid: number, maps: string): ProcessView {
    this.retire();
    const old = this.processes.get(pid);
    if (old !== undefined && old.mapsText === maps) return old;
    const debugRoots = debugRootsOf(pid);
    const view: ProcessView = {
      pid,
      mapsText: maps,
      entries: parseMaps(maps),
      modules: new Map(),
      byEntry: new Map(),
      previous: old?.modules,
      debugRoots,
    };
    this.processes.set(pid, view);
    return view;
  }

  /**
   * The module a mapping (of the view's entries, hasModule) shows, parsed on first use, with
   * its symbols: a module the unwinder loaded reads them now (its file opened again through
   * this mapping). When that fails, a failed module stands for it in this naming only.
   */
  moduleFor(view: ProcessView, m: MapEntry): Module {
    const mod = this.unwindModuleFor(view, m);
    if (mod.symbolsPending !== true) return mod;
    const t0 = process.hrtime.bigint();
    const named = this.readSymbols(view, m, mod);
    this.stats.loadNs += Number(process.hrtime.bigint() - t0);
    if (named !== mod) {
      // Not tried again for every frame of this view (the unwinder keeps its table).
      view.modules.set(mappingKey(m), named);
      view.byEntry.set(m, named);
    }
    return named;
  }

  /** The module a mapping shows, parsed on first use as far as unwinding needs (symbols may wait). */
  private unwindModuleFor(view: ProcessView, m: MapEntry): Module {
    const known = this.knownModuleFor(view, m);
    if (known !== undefined) return known;
    const t0 = process.hrtime.bigint();
    const mod = this.supplied?.(m) ?? (m.path === '[vdso]' ? this.loadVdso(view.pid, m) : this.loadFile(view, m));
    this.stats.loadNs += Number(process.hrtime.bigint() - t0);
    view.modules.set(mappingKey(m), mod);
    view.byEntry.set(m, mod);
    return mod;
  }

  /** The module of a mapping this view (or the one before it) has met already: no file is read. */
  private knownModuleFor(view: ProcessView, m: MapEntry): Module | undefined {
    const known = view.byEntry.get(m);
    if (known !== undefined) {
      this.stats.cacheHits++;
      return known;
    }
    const key = mappingKey(m);
    const mod = view.modules.get(key) ?? view.previous?.get(key);
    if (mod === undefined) return undefined;
    this.stats.cacheHits++;
    view.modules.set(key, mod);
    view.byEntry.set(m, mod);
    return mod;
  }

  /** Reads a pending module's symbols from the mapped file, which must be the file it was parsed from. */
  private readSymbols(view: ProcessView, m: MapEntry, mod: Module): Module {
    const opened = openMappedFile(view.pid, m);
    if ('failure' in opened)
      return failedModule(opened.failure, opened.failure === FILE_CHANGED ? 'module-changed' : 'module-unreadable');
    const { fd, st } = opened;
    try {
      // The very file parsed for unwinding (same identity): its headers are not parsed again.
      const sameFile = fileKeyOf(st) === mod.cacheKey;
      const source = new FdSource(fd, st.size);
      const headers = sameFile ? mod.headers : undefined;
      const elf = headers !== undefined ? ElfFile.reopened(headers, source) : new ElfFile(source);
      if (!sameFile) {
        const build = buildKeyOf(elf, st);
        if (build === undefined || build !== mod.buildKey) return failedModule(FILE_CHANGED, 'module-changed');
      }
      this.stats.symbolsRead++;
      this.grew(mod, addSymbols(mod, elf, m.path, view.debugRoots, this.xzDecompress));
      mod.headers = undefined;
      return mod;
    } catch (e) {
      return failedModule(`read: ${(e as Error).message}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * Every mapping as the unwinder takes it: [start, end, bias, (cfi << 2) | (pending << 1) |
   * executable], where an address's link-time address in its module is address − bias. An
   * executable file mapping whose module the view has not met comes pending: the unwinder has it
   * loaded (the same module that names the frames) when a walk first needs its table, so a module
   * no stack passes through is never parsed.
   */
  unwindMappings(pid: number, maps: string): UnwindMappings {
    const view = this.view(pid, maps);
    if (view.unwindMappings !== undefined) return view.unwindMappings;
    const rows = new BigUint64Array(view.entries.length * 4);
    view.entries.forEach((m, i) => {
      const executable = m.perms[2] === 'x';
      rows[i * 4] = m.start;
      rows[i * 4 + 1] = m.end;
      rows[i * 4 + 3] = executable ? 1n : 0n;
      if (!executable || !hasModule(m)) return;
      const mod = this.knownModuleFor(view, m);
      if (mod === undefined) rows[i * 4 + 3] = PENDING_EXECUTABLE;
      else fillRow(rows, i, m, mod);
    });
    const load = (row: number): void => {
      const m = view.entries[row];
      if (m !== undefined && rows[row * 4 + 3] === PENDING_EXECUTABLE)
        fillRow(rows, row, m, this.unwindModuleFor(view, m));
    };
    view.unwindMappings = { rows, load };
    return view.unwindMappings;
  }

  /**
   * The module's line table, built on first use from its debug file, else from the file itself
   * (opened through this mapping: the module may have been parsed for another process, since
   * gone); its index of inlined calls (mod.inlines) is built from the same file at once.
   */
  lineTableOf(pid: number, m: MapEntry, mod: Module): LineTable | null {
    if (mod.lineTable !== undefined) return mod.lineTable;
    const opened =
      mod.debugFile !== undefined && mod.debugFileId !== undefined
        ? reopenTargetFile(mod.debugFile, mod.debugFileId)
        : openMappedFile(pid, m);
    if ('failure' in opened) return null; // not cached: another mapping of it may open
    mod.lineTable = null;
    mod.inlines = null;
    try {
      const elf = new ElfFile(new FdSource(opened.fd, fs.fstatSync(opened.fd).size));
      try {
        mod.lineTable = lineTableFor(elf);
      } catch {
        // corrupt .debug_line: no lines, but inlined calls may still be named
      }
      mod.inlines = InlineIndex.build(elf, mod.lineTable);
    } catch {
      // unreadable or corrupt debug info: frames keep their symbols, without lines
    } finally {
      fs.closeSync(opened.fd);
    }
    this.grew(mod, (mod.lineTable?.bytes ?? 0) + (mod.inlines?.bytes ?? 0));
    return mod.lineTable;
  }

  /**
   * The module's PLT stubs, found on the first pc no symbol covers (a thread stopped inside a
   * stub): reading the relocations and .dynsym names for them cost the cold path ~15 ms on
   * node, for frames that are rare. The file is opened again through the mapping.
   */
  pltOf(pid: number, m: MapEntry, mod: Module): PltStub[] {
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

  /** Empties every cache, freeing the native unwind tables (the next call parses anew). */
  clear(): void {
    this.files.clear();
    this.byBuildId.clear();
    this.retire();
  }

  /** The memory the cached modules hold, about (bytes), and how many there are. */
  get cacheSize(): { modules: number; bytes: number } {
    return { modules: this.files.size, bytes: this.files.totalWeight };
  }

  /** The module grew (lines read): count it again against the cache's budget. */
  private grew(mod: Module, bytes: number): void {
    mod.bytes += bytes;
    if (mod.cacheKey !== undefined && this.files.get(mod.cacheKey) === mod) this.files.set(mod.cacheKey, mod);
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

  /** Parses the mapped file unless its identity (or its build) is cached. */
  private loadFile(view: ProcessView, m: MapEntry): Module {
    const opened = openMappedFile(view.pid, m);
    if ('failure' in opened)
      return failedModule(opened.failure, opened.failure === FILE_CHANGED ? 'module-changed' : 'module-unreadable');
    const { fd, st } = opened;
    try {
      const fileKey = fileKeyOf(st);
      const cached = this.files.get(fileKey);
      if (cached !== undefined) {
        this.stats.cacheHits++;
        return cached;
      }
      let elf: ElfFile;
      try {
        elf = new ElfFile(new FdSource(fd, st.size));
      } catch (e) {
        const failed = failedModule(`ELF: ${(e as Error).message}`, 'module-invalid');
        this.files.set(fileKey, failed);
        return failed;
      }
      return this.parse(elf, fileKey, buildKeyOf(elf, st), view, m);
    } catch (e) {
      return failedModule(`read: ${(e as Error).message}`);
    } finally {
      fs.closeSync(fd);
    }
  }

  /**
   * The module of an opened ELF file, unless another identity of the same build (its bytes
   * hash to the same build-id, and the size rules out a stripped twin) is parsed already.
   */
  private parse(elf: ElfFile, fileKey: string, buildKey: string | undefined, view: ProcessView, m: MapEntry): Module {
    const twinKey = buildKey === undefined ? undefined : this.byBuildId.get(buildKey);
    const twin = twinKey === undefined ? undefined : this.files.get(twinKey);
    if (twin !== undefined) {
      this.stats.cacheHits++;
      return twin;
    }
    this.stats.modulesParsed++;
    const mod = loadUnwindModule(elf, m.path, view.debugRoots);
    mod.cacheKey = fileKey;
    mod.buildKey = buildKey;
    this.files.set(fileKey, mod);
    if (buildKey !== undefined) this.byBuildId.set(buildKey, fileKey);
    return mod;
  }

  /** The vdso exists only in memory: read its image from the target (root or ptrace access). */
  private loadVdso(pid: number, m: MapEntry): Module {
    const size = Number(m.end - m.start);
    if (size <= 0 || size > VDSO_MAX) return failedModule('implausible vdso size', 'vdso-unreadable');
    let fd: number;
    try {
      fd = fs.openSync(`/proc/${pid}/mem`, 'r');
    } catch (e) {
      return failedModule(`vdso: ${(e as Error).message}`, 'vdso-unreadable');
    }
    try {
      const buf = Buffer.alloc(size);
      const n = fs.readSync(fd, buf, 0, size, m.start);
      this.stats.modulesParsed++;
      const mod = loadElfModule(new BufferSource(buf.subarray(0, n)), m.path, []);
      if (mod.failure !== undefined) mod.failure = 'vdso-unreadable';
      return mod;
    } catch (e) {
      return failedModule(`vdso: ${(e as Error).message}`, 'vdso-unreadable');
    } finally {
      fs.closeSync(fd);
    }
  }
}
