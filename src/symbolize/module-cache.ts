// A module is what stackshot needs from one mapped file: its PT_LOAD segments (to turn file
// offsets into link-time addresses), its function symbols (from the file and, when installed,
// its separate debug file, else its MiniDebugInfo), and its unwind table (.eh_frame,
// .debug_frame, handed to the native unwinder). Parsing one is the expensive step, so the
// symbolizer keeps modules in an LRU cache by file identity and build-id, bounded by the bytes
// they hold (`bytes`), and frees their native unwind tables when they leave it (releaseModule):
// module-registry.ts owns them.
import * as fs from 'node:fs';
import { loadUnwindTable, unloadUnwindTable } from '../unwind/unwind-table';
import { findDebugFile } from '../elf/build-id';
import { entryFunction, type EntryFunction } from '../elf/entry-function';
import { miniDebugInfo, type XzDecompress } from '../elf/mini-debuginfo';
import type { PltStub } from '../elf/plt';
import type { InlineIndex } from '../dwarf/inline-index';
import type { LineTable } from '../dwarf/line-table';
import { ByteSource, ElfFile, type ElfHeaders, FdSource, LoadSegment, SHT_NOBITS, SHT_SYMTAB } from '../elf/elf-file';
import { SymbolSource, symbolSources, SymbolTable } from '../elf/symbols';
import type { SymbolReason } from '../types';
import { GoPclntab } from './resolvers/go-pclntab';
import { symbolTableFor } from '../cache/symbol-cache';
import { reopenTargetFile, type TargetRoot } from './target-file';

export interface Module {
  /** PT_LOAD segments of the mapped file (never of the debug file: it is the mapped one). */
  loads: LoadSegment[];
  /** Null when the file could not be read or parsed; `reason` says why. */
  symbols: SymbolTable | null;
  /** Symbols not read yet (loadUnwindModule): the registry reads them when a frame is named. */
  symbolsPending?: boolean;
  /** While symbols are pending: the file's ELF headers, for its file opened again (ElfFile.reopened). */
  headers?: ElfHeaders;
  /** Why symbols is null, or why some were not available (an unusable MiniDebugInfo). */
  reason?: string;
  /** When symbols is null: the frames' SymbolReason (reason gives the detail). */
  failure?: ModuleFailure;
  /** The separate debug file whose .symtab was merged in, if any. */
  debugFile?: string;
  /** Its identity: reopening debugFile must find this very file. */
  debugFileId?: { dev: number; ino: number };
  /** Whether the debug file was looked for (loadUnwindModule leaves that to addSymbols). */
  debugSearched?: boolean;
  /** Whether the .symtab embedded in .gnu_debugdata was merged in. */
  miniDebugInfo?: boolean;
  /** The native unwind table's id; 0 when the file has neither .eh_frame nor .debug_frame. */
  cfi: number;
  /** The function at the ELF entry point (link-time range): reaching it completes a stack. */
  entry?: EntryFunction;
  /** A stripped Go binary's function table (.gopclntab): names where no symbol is left. */
  goFunctions?: GoPclntab | null;
  /** PLT stubs, named `name@plt` (they have no symbols of their own); found when first needed. */
  plt?: PltStub[];
  /** Its key in the registry's file cache (file identity). */
  cacheKey?: string;
  /** Its build (build-id and size), when it has a build-id: it may be named through another identity. */
  buildKey?: string;
  /** Source lines (.debug_line of the debug file, else of the file), built on first use. */
  lineTable?: LineTable | null;
  /** Inlined calls (.debug_info of the same file), built with lineTable. */
  inlines?: InlineIndex | null;
  /** About how much memory the module holds, here and natively (symbol strings and index,
   *  unwind sections): what the cache is bounded by. */
  bytes: number;
}

/** The reasons a whole module names nothing for. */
export type ModuleFailure = Extract<
  SymbolReason,
  'module-unreadable' | 'module-changed' | 'module-invalid' | 'vdso-unreadable'
>;

/** Frees what a module holds natively (its unwind table) and the files its names are read
 *  from; the module must not be used after. */
export function releaseModule(mod: Module): void {
  if (mod.cfi !== 0) unloadUnwindTable(mod.cfi);
  mod.cfi = 0;
  mod.symbols?.close();
}

/** A module that names nothing, remembering why (unreadable file, not ELF, ...). */
export function failedModule(reason: string, failure: ModuleFailure = 'module-unreadable'): Module {
  return { loads: [], symbols: null, reason, failure, cfi: 0, plt: [], bytes: 0 };
}

/** Whether one of the sources is a .symtab with entries (not a stripped placeholder). */
function hasSymtab(sources: SymbolSource[]): boolean {
  return sources.some((s) => s.symtab.type === SHT_SYMTAB && s.symtab.size > 0);
}

/** A separate debug file found for a module, open until the module is built. */
interface DebugFile {
  path: string;
  id: { dev: number; ino: number };
  fd: number;
  elf: ElfFile;
}

/**
 * The module's separate debug file, its .symtab put first in `sources`. Only looked for when
 * the binary itself lacks .symtab: that is what stripping removes, and a binary that kept
 * .symtab has nothing more to gain. A refused candidate's reason goes to `refused`.
 */
function addDebugFile(
  elf: ElfFile,
  modulePath: string,
  debugRoots: readonly (string | TargetRoot)[],
  sources: SymbolSource[],
  refused: string[],
): DebugFile | undefined {
  if (debugRoots.length === 0 || sources.some((s) => s.symtab.name === '.symtab')) return undefined;
  let dbg: ReturnType<typeof findDebugFile> = null;
  try {
    dbg = findDebugFile(elf, modulePath, debugRoots, refused);
    if (dbg === null) return undefined;
    // Debug .symtab first: equal-rank duplicates keep the earlier source.
    sources.unshift(...symbolSources(dbg.elf).filter((s) => s.symtab.name === '.symtab'));
    return { path: dbg.path, id: { dev: dbg.dev, ino: dbg.ino }, fd: dbg.fd, elf: dbg.elf };
  } catch {
    if (dbg !== null) fs.closeSync(dbg.fd);
    return undefined; // a debug file that cannot be used leaves the binary's own symbols
  }
}

/**
 * MiniDebugInfo's .symtab, put first in `sources`, only when neither the file nor a debug file
 * has a .symtab, as gdb and elfutils do: it is cut from the full .symtab, so a debug file
 * already holds all of it. Decompressed once per parsed file (modules are cached). Returns
 * whether it was merged, and why it could not be where it could not.
 */
function addMiniDebugInfo(
  elf: ElfFile,
  sources: SymbolSource[],
  xzDecompress?: XzDecompress,
): { merged: boolean; reason?: string } {
  if (hasSymtab(sources)) return { merged: false };
  try {
    const embedded = miniDebugInfo(elf, xzDecompress);
    if (embedded === null) return { merged: false };
    const symtabs = symbolSources(embedded).filter((s) => s.symtab.type === SHT_SYMTAB);
    // Ahead of .dynsym: at an address both name, the .symtab entry is kept.
    sources.unshift(...symtabs);
    if (symtabs.length === 0) return { merged: false, reason: 'MiniDebugInfo: the embedded file has no .symtab' };
    return { merged: true };
  } catch (e) {
    // Bad xz, not ELF inside, no liblzma: .dynsym still names the exported functions.
    const code = (e as { code?: unknown }).code;
    return {
      merged: false,
      reason: `MiniDebugInfo: ${(e as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`,
    };
  }
}

/** What a module names by: read with its unwind table (loadElfModule), or when it first names a frame. */
type SymbolParts = Pick<Module, 'symbols' | 'reason' | 'failure' | 'entry' | 'goFunctions' | 'miniDebugInfo'> & {
  bytes: number;
};

/**
 * The module's symbols from `sources` (the file's, its debug file's .symtab first), its
 * MiniDebugInfo, its Go function table; `refused` is why a debug file was not used, if one was not.
 */
function symbolParts(
  elf: ElfFile,
  sources: SymbolSource[],
  refused: string | undefined,
  xzDecompress?: XzDecompress,
): SymbolParts {
  const mini = addMiniDebugInfo(elf, sources, xzDecompress);
  // A debug file the target points at but that was refused: say so (it may be why names lack).
  const reason = mini.reason ?? refused;
  // Go keeps .gopclntab for its own tracebacks: it names a Go binary built without symbols.
  const goFunctions = hasSymtab(sources) ? null : GoPclntab.read(elf);
  const goBytes = goFunctions?.bytes ?? 0;
  try {
    const symbols = symbolTableFor(sources, elf); // the persistent cache's, if it has them
    const entry = entryFunction(elf, symbols);
    return { symbols, reason, entry, goFunctions, miniDebugInfo: mini.merged, bytes: symbols.bytes + goBytes };
  } catch (e) {
    const why = `symbols: ${(e as Error).message}`;
    const entry = entryFunction(elf, null);
    return {
      symbols: null,
      reason: why,
      failure: 'module-invalid',
      entry,
      goFunctions,
      miniDebugInfo: mini.merged,
      bytes: goBytes,
    };
  }
}

/** Whether the file carries unwind tables of its own (else a debug file's .debug_frame may serve). */
function hasOwnCfi(elf: ElfFile): boolean {
  return ['.eh_frame', '.debug_frame'].some((name) => {
    const s = elf.section(name);
    return s !== undefined && s.type !== SHT_NOBITS && s.size > 0;
  });
}

/**
 * The parts of a module the unwinder needs (its segments, its unwind table), its debug file
 * found: always when `debugFor` is 'names', only when the file has no unwind tables of its own
 * when it is 'cfi' (the search, a CRC over a debuglink's file, then waits for addSymbols).
 */
function unwindParts(
  elf: ElfFile,
  modulePath: string,
  debugRoots: readonly (string | TargetRoot)[],
  debugFor: 'names' | 'cfi',
): { mod: Module; sources: SymbolSource[]; debug?: DebugFile } {
  const sources: SymbolSource[] = symbolSources(elf);
  const refused: string[] = [];
  const searched = debugFor === 'names' || !hasOwnCfi(elf);
  const debug = searched ? addDebugFile(elf, modulePath, debugRoots, sources, refused) : undefined;
  try {
    // After the debug file: a module without .debug_frame of its own may find it there.
    const { id: cfi, bytes } = loadUnwindTable(elf, debug?.elf);
    const mod: Module = {
      loads: elf.loads,
      symbols: null,
      reason: debug === undefined && refused.length > 0 ? refused[0] : undefined,
      debugFile: debug?.path,
      debugFileId: debug?.id,
      debugSearched: searched,
      cfi,
      bytes,
    };
    return { mod, sources, debug };
  } catch (e) {
    if (debug !== undefined) fs.closeSync(debug.fd);
    throw e;
  }
}

/**
 * Parses the ELF in `from` (the file mapped at `modulePath` in the target) into a module.
 * `debugRoots` are the roots under which debug files are searched (findDebugFile); [] disables the
 * search (e.g. for the vdso). `xzDecompress` opens MiniDebugInfo; without it, .gnu_debugdata
 * is left unread. Never throws: a corrupt file yields a failed module.
 */
export function loadElfModule(
  from: ByteSource | ElfFile,
  modulePath: string,
  debugRoots: readonly (string | TargetRoot)[],
  xzDecompress?: XzDecompress,
): Module {
  let elf: ElfFile;
  try {
    elf = from instanceof ElfFile ? from : new ElfFile(from);
  } catch (e) {
    return failedModule(`ELF: ${(e as Error).message}`, 'module-invalid');
  }
  const { mod, sources, debug } = unwindParts(elf, modulePath, debugRoots, 'names');
  try {
    const parts = symbolParts(elf, sources, mod.reason, xzDecompress);
    return { ...mod, ...parts, bytes: mod.bytes + parts.bytes };
  } finally {
    if (debug !== undefined) fs.closeSync(debug.fd);
  }
}

/**
 * The module's unwinding part only (see loadElfModule): its symbols wait (symbolsPending) until
 * a frame in it is named (addSymbols), as most mapped files have no frame in a snapshot.
 */
export function loadUnwindModule(
  elf: ElfFile,
  modulePath: string,
  debugRoots: readonly (string | TargetRoot)[],
): Module {
  const { mod, debug } = unwindParts(elf, modulePath, debugRoots, 'cfi');
  if (debug !== undefined) fs.closeSync(debug.fd);
  mod.symbolsPending = true;
  mod.headers = ElfFile.headersOf(elf);
  return mod;
}

/**
 * Reads a pending module's symbols from `elf` (its file, opened again and checked by the
 * caller) and its debug file (searched now, or opened again: it must be the one found before).
 * Returns the bytes the module grew by.
 */
export function addSymbols(
  mod: Module,
  elf: ElfFile,
  modulePath: string,
  debugRoots: readonly (string | TargetRoot)[],
  xzDecompress?: XzDecompress,
): number {
  const sources: SymbolSource[] = symbolSources(elf);
  let debugFd: number | undefined;
  if (mod.debugSearched !== true) {
    const refused: string[] = [];
    const debug = addDebugFile(elf, modulePath, debugRoots, sources, refused);
    Object.assign(mod, { debugFile: debug?.path, debugFileId: debug?.id, debugSearched: true });
    if (debug === undefined && refused.length > 0) mod.reason = refused[0];
    debugFd = debug?.fd;
  } else if (mod.debugFile !== undefined && mod.debugFileId !== undefined) {
    const opened = reopenTargetFile(mod.debugFile, mod.debugFileId);
    if (!('failure' in opened)) {
      debugFd = opened.fd;
      try {
        const dbg = new ElfFile(new FdSource(opened.fd, opened.st.size));
        sources.unshift(...symbolSources(dbg).filter((src) => src.symtab.name === '.symtab'));
      } catch {
        // changed into something unreadable since: the binary's own symbols
      }
    }
  }
  try {
    const parts = symbolParts(elf, sources, mod.reason, xzDecompress);
    Object.assign(mod, parts, { bytes: mod.bytes, symbolsPending: false });
    return parts.bytes;
  } finally {
    if (debugFd !== undefined) fs.closeSync(debugFd);
  }
}
