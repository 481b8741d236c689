// A module is what stackshot needs from one mapped file: its PT_LOAD segments (to turn file
// offsets into link-time addresses), its function symbols (from the file and, when installed,
// its separate debug file, else its MiniDebugInfo), and its unwind table (.eh_frame,
// .debug_frame, handed to the native unwinder). Parsing one is the expensive step, so the
// symbolizer keeps modules in an LRU cache by file identity and build-id, bounded by the bytes
// they hold (`bytes`), and frees their native unwind tables when they leave it (releaseModule).
import * as fs from 'node:fs';
import { loadUnwindTable, unloadUnwindTable } from '../unwind/unwind-table';
import { findDebugFile } from '../elf/build-id';
import { entryFunction, type EntryFunction } from '../elf/entry-function';
import { miniDebugInfo, type XzDecompress } from '../elf/mini-debuginfo';
import type { PltStub } from '../elf/plt';
import type { InlineIndex } from '../dwarf/inline-index';
import type { LineTable } from '../dwarf/line-table';
import { ByteSource, ElfFile, LoadSegment, SHT_SYMTAB } from '../elf/elf-file';
import { SymbolSource, symbolSources, SymbolTable } from '../elf/symbols';
import { symbolTableFor } from '../cache/symbol-cache';
import type { TargetRoot } from './target-file';

export interface Module {
  /** PT_LOAD segments of the mapped file (never of the debug file: it is the mapped one). */
  loads: LoadSegment[];
  /** Null when the file could not be read or parsed; `reason` says why. */
  symbols: SymbolTable | null;
  /** Why symbols is null, or why some were not available (an unusable MiniDebugInfo). */
  reason?: string;
  /** The separate debug file whose .symtab was merged in, if any. */
  debugFile?: string;
  /** Its identity: reopening debugFile must find this very file. */
  debugFileId?: { dev: number; ino: number };
  /** Whether the .symtab embedded in .gnu_debugdata was merged in. */
  miniDebugInfo?: boolean;
  /** The native unwind table's id; 0 when the file has neither .eh_frame nor .debug_frame. */
  cfi: number;
  /** The function at the ELF entry point (link-time range): reaching it completes a stack. */
  entry?: EntryFunction;
  /** PLT stubs, named `name@plt` (they have no symbols of their own); found when first needed. */
  plt?: PltStub[];
  /** Its key in the symbolizer's file cache (file identity). */
  cacheKey?: string;
  /** Source lines (.debug_line of the debug file, else of the file), built on first use. */
  lineTable?: LineTable | null;
  /** Inlined calls (.debug_info of the same file), built with lineTable. */
  inlines?: InlineIndex | null;
  /** About how much memory the module holds, here and natively (symbol strings and index,
   *  unwind sections): what the cache is bounded by. */
  bytes: number;
}

/** Frees what a module holds natively (its unwind table); the module must not be used after. */
export function releaseModule(mod: Module): void {
  if (mod.cfi !== 0) unloadUnwindTable(mod.cfi);
  mod.cfi = 0;
}

/** A module that names nothing, remembering why (unreadable file, not ELF, ...). */
export function failedModule(reason: string): Module {
  return { loads: [], symbols: null, reason, cfi: 0, plt: [], bytes: 0 };
}

/** Whether one of the sources is a .symtab with entries (not a stripped placeholder). */
function hasSymtab(sources: SymbolSource[]): boolean {
  return sources.some((s) => s.symtab.type === SHT_SYMTAB && s.symtab.size > 0);
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
    return failedModule(`ELF: ${(e as Error).message}`);
  }
  const sources: SymbolSource[] = symbolSources(elf);
  let debugFile: string | undefined;
  let debugFileId: Module['debugFileId'];
  const refused: string[] = [];
  let debugFd: number | undefined;
  let debugElf: ElfFile | undefined;
  // Only look for a debug file when the binary itself lacks .symtab: that is what stripping
  // removes, and a binary that kept .symtab has nothing more to gain.
  if (debugRoots.length > 0 && !sources.some((s) => s.symtab.name === '.symtab')) {
    try {
      const dbg = findDebugFile(elf, modulePath, debugRoots, refused);
      if (dbg !== null) {
        debugFile = dbg.path;
        debugFileId = { dev: dbg.dev, ino: dbg.ino };
        debugFd = dbg.fd;
        debugElf = dbg.elf;
        // Debug .symtab first: equal-rank duplicates keep the earlier source.
        sources.unshift(...symbolSources(dbg.elf).filter((s) => s.symtab.name === '.symtab'));
      }
    } catch {
      // A debug file that cannot be used leaves the binary's own symbols.
    }
  }
  // A debug file the target points at but that was refused: say so (it may be why names lack).
  let reason: string | undefined = debugFile === undefined && refused.length > 0 ? refused[0] : undefined;
  // After the debug file: a module without .debug_frame of its own may find it there.
  const { id: cfi, bytes: cfiBytes } = loadUnwindTable(elf, debugElf);
  // MiniDebugInfo only when neither the file nor a debug file has a .symtab, as gdb and
  // elfutils do: it is cut from the full .symtab, so a debug file already holds all of it.
  // Decompressed here, once per parsed file (the module is cached by file identity).
  let mini = false;
  if (!hasSymtab(sources)) {
    try {
      const embedded = miniDebugInfo(elf, xzDecompress);
      if (embedded !== null) {
        const symtabs = symbolSources(embedded).filter((s) => s.symtab.type === SHT_SYMTAB);
        if (symtabs.length === 0) reason = 'MiniDebugInfo: the embedded file has no .symtab';
        // Ahead of .dynsym: at an address both name, the .symtab entry is kept.
        sources.unshift(...symtabs);
        mini = symtabs.length > 0;
      }
    } catch (e) {
      // Bad xz, not ELF inside, no liblzma: .dynsym still names the exported functions.
      const code = (e as { code?: unknown }).code;
      reason = `MiniDebugInfo: ${(e as Error).message}${typeof code === 'string' ? ` (${code})` : ''}`;
    }
  }
  try {
    const symbols = symbolTableFor(sources, elf); // the persistent cache's, if it has them
    const entry = entryFunction(elf, symbols);
    return {
      loads: elf.loads,
      symbols,
      reason,
      debugFile,
      debugFileId,
      miniDebugInfo: mini,
      cfi,
      entry,
      bytes: cfiBytes + symbols.bytes,
    };
  } catch (e) {
    return {
      loads: elf.loads,
      symbols: null,
      reason: `symbols: ${(e as Error).message}`,
      debugFile,
      debugFileId,
      miniDebugInfo: mini,
      cfi,
      entry: entryFunction(elf, null),
      bytes: cfiBytes,
    };
  } finally {
    if (debugFd !== undefined) fs.closeSync(debugFd);
  }
}
