// Turns captured pcs into `symbol+offset (module)`, synchronously (snapshotSync needs it).
// Per pc: find the mapping in the maps text captured with the stacks, take its module from the
// registry (parsed once per file, shared with unwinding), turn the address into the module's
// link-time address, and ask the mapping's naming sources (resolvers/) in order. A process's
// file-backed names are remembered per maps text, so a repeated call on an unchanged process
// touches no file at all.
import { fileOffsetToVaddr } from '../elf/elf-file';
import { findMapping, type MapEntry, placeInMapping } from '../procfs/maps';
import type { SymbolReason } from '../types';
import { Demangler } from './demangler';
import { LruCache } from './lru-cache';
import { hasModule, ModuleRegistry, type ModuleRegistryOptions, type ProcessView } from './module-registry';
import { atEntryPoint, elfSource, ElfSymbolResolver } from './resolvers/elf';
import { GoPclntabResolver } from './resolvers/go';
import { PerfMapResolver } from './resolvers/perf-map';
import { PltResolver } from './resolvers/plt';
import { type PcPlace, resolveFirst, type Resolver } from './resolvers/resolver';
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
  reason?: SymbolReason;
  /** What exactly went wrong, where the reason has more to say. */
  detail?: string;
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

export interface SymbolizerOptions extends ModuleRegistryOptions {
  /** Demangler for C++ and Rust names (the addon's); null means "not mangled". */
  demangle?: (mangled: string) => string | null;
  /** Where modules come from; by default a registry of its own (with maxCacheBytes, xzDecompress). */
  modules?: ModuleRegistry;
}

/** Looked-up pcs remembered per process, and processes whose names are remembered. */
const MEMO_CAP = 65536;
const PROCESS_CAP = 32;

const NO_NAME: NamedPc = {
  module: null,
  moduleOffset: null,
  symbol: null,
  symbolOffset: null,
  reason: 'no-mapping',
};

/** A remembered name, for a return address: the pc is one byte past its lookup address. */
function pastLookup(known: NamedPc): NamedPc {
  return {
    ...known,
    moduleOffset: known.moduleOffset === null ? null : known.moduleOffset + 1n,
    symbolOffset: known.symbolOffset === null ? null : known.symbolOffset + 1,
  };
}

export class Symbolizer {
  /** Names found in the memo of a process's earlier calls: no mapping or file looked at. */
  readonly stats = { memoHits: 0 };
  readonly modules: ModuleRegistry;
  private readonly demangler: Demangler;
  private readonly perfMap = new PerfMapResolver();
  /** The naming sources of each kind of mapping, in the order they are asked. */
  private readonly fileSources: readonly Resolver[];
  private readonly vdsoSources: readonly Resolver[];
  private readonly jitSources: readonly Resolver[];
  /**
   * Names of file-backed pcs already looked up, by lookup address (pc − 1 for return
   * addresses), per process and for its current view only (a new maps text starts afresh):
   * repeated snapshots meet the same return addresses again and again. JIT code is not
   * remembered.
   */
  private readonly memos = new LruCache<number, { view: ProcessView; names: Map<bigint, NamedPc> }>(PROCESS_CAP);

  constructor(options: SymbolizerOptions = {}) {
    this.modules = options.modules ?? new ModuleRegistry(options);
    this.demangler = new Demangler(options.demangle);
    const elf = new ElfSymbolResolver(this.demangler);
    this.fileSources = [elf, new GoPclntabResolver(), new PltResolver(this.modules)];
    this.vdsoSources = [elf];
    this.jitSources = [this.perfMap];
  }

  /** With `lines`, frames in modules with debug info also get their source file and line. */
  symbolize(pid: number, maps: string, pcs: PcToName[], options: { lines?: boolean } = {}): NamedPc[] {
    const lines = options.lines === true;
    const view = this.modules.view(pid, maps);
    let held = this.memos.get(pid);
    if (held?.view !== view) this.memos.set(pid, (held = { view, names: new Map() }));
    const memo = held.names;
    this.perfMap.beginPass();
    const out: NamedPc[] = new Array(pcs.length);
    for (let i = 0; i < pcs.length; i++) {
      const { pc, isReturnAddress } = pcs[i];
      const at = lookupAddress(pc, isReturnAddress);
      const delta = at === pc ? 0 : 1;
      const known = lines ? undefined : memo.get(at);
      if (known !== undefined) {
        this.stats.memoHits++;
        out[i] = delta === 0 ? known : pastLookup(known);
        continue;
      }
      out[i] = this.nameAt(view, pc, at, delta, lines, memo);
    }
    return out;
  }

  /** The naming sources of a mapping: the one place a source is chosen. */
  private sourcesOf(m: MapEntry): readonly Resolver[] {
    if (m.path === '[vdso]') return this.vdsoSources; // its ELF image, read from the process
    if (m.path.startsWith('/')) return this.fileSources; // ELF symbols and debug files, Go's table, PLT stubs
    return this.jitSources; // anonymous memory: JIT code
  }

  /** Names one pc (looked up at `at`), remembering a file-backed name in `memo`. */
  private nameAt(
    view: ProcessView,
    pc: bigint,
    at: bigint,
    delta: number,
    lines: boolean,
    memo: Map<bigint, NamedPc>,
  ): NamedPc {
    const m = findMapping(view.entries, at);
    if (m === undefined) return NO_NAME;
    const { module, moduleOffset } = placeInMapping(m, pc);
    const mod = hasModule(m) ? this.modules.moduleFor(view, m) : undefined;
    const vaddr = mod === undefined ? undefined : fileOffsetToVaddr(mod.loads, at - m.start + m.offset);
    const place: PcPlace = { pid: view.pid, m, at, module: mod, vaddr };
    const r = resolveFirst(this.sourcesOf(m), place);
    let named: NamedPc =
      r.symbol !== undefined
        ? { module, moduleOffset, symbol: r.symbol, symbolOffset: r.offset + delta }
        : { module, moduleOffset, symbol: null, symbolOffset: null, reason: r.reason };
    if (r.symbol === undefined && r.detail !== undefined) named.detail = r.detail;
    if (place.module === undefined) return named;
    if (atEntryPoint(place)) named.atEntryPoint = true;
    this.remember(memo, at, named, delta);
    if (lines) {
      const source = elfSource(this.modules, this.demangler, place);
      if (source !== undefined) named = { ...named, ...source };
    }
    return named;
  }

  /** Stores a file-backed result by lookup address, with the offsets of `at` itself. */
  private remember(memo: Map<bigint, NamedPc>, at: bigint, named: NamedPc, delta: number): void {
    if (memo.size >= MEMO_CAP) memo.clear();
    // An exact pc's name is its lookup address's (named is not changed after this).
    if (delta === 0) {
      memo.set(at, named);
      return;
    }
    memo.set(at, {
      ...named,
      moduleOffset: named.moduleOffset === null ? null : named.moduleOffset - 1n,
      symbolOffset: named.symbolOffset === null ? null : named.symbolOffset - 1,
    });
  }
}
