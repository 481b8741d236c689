// Audit of one ELF module: can a stack be walked through it, and with what?
//   - unwind tables: .eh_frame (+ .eh_frame_hdr), .debug_frame;
//   - symbols: .symtab / .dynsym, build-id, separate debug file;
//   - the share of its functions (by count and by bytes) that set up a frame pointer, from
//     their first bytes (src/audit/prologue.ts);
//   - the compiler flags, where the build recorded them;
//   - a verdict (see Verdict in ./types).
//
// Functions are the STT_FUNC symbols with a size > 0 of .symtab, else of the debug file's
// .symtab (a stripped binary with its debug file installed), else of .dynsym; one per start
// address (aliases counted once, the largest size kept). `.cold` / `.cold.N` symbols are left
// out: they are the out-of-line parts of other functions (gcc hot/cold splitting), run inside
// their parent's frame and never set one up. Code bytes are read from the mapped file, through
// the executable PT_LOAD that contains each function.
import * as fs from 'node:fs';
import { findDebugFile, readBuildId } from '../elf/build-id';
import {
  EM_AARCH64,
  EM_X86_64,
  ElfFile,
  FdSource,
  SHT_DYNSYM,
  SHT_NOBITS,
  SHT_SYMTAB,
  ET_DYN,
  ET_EXEC,
  type LoadSegment,
  type SectionHeader,
} from '../elf/elf-file';
import { framePointerFlag, readGccCommandLine, readProducer } from './dwarf-producer';
import { classifierFor, PROLOGUE_WINDOW, type PrologueKind } from './prologue';
import { FP_WALKABLE_SHARE, type CompilerInfo, type FramePointerStats, type ModuleAudit, type Verdict } from './types';

const SYM_SIZE = 24;
const STT_FUNC = 2;
const SHN_UNDEF = 0;
const PF_X = 1;
const TWO_32 = 4294967296;
const CHUNK = 4 << 20;

export interface FunctionList {
  /** Start vaddrs, ascending. */
  starts: Float64Array;
  sizes: Float64Array;
  /** Sized STT_FUNC symbols left out (`.cold` parts). */
  cold: number;
}

function isColdName(strs: Buffer, off: number): boolean {
  let end = strs.indexOf(0, off);
  if (end < 0) end = strs.length;
  if (end - off < 5) return false;
  const tail = strs.toString('latin1', Math.max(off, end - 16), end);
  return /\.cold(\.\d+)?$/.test(tail);
}

/** Entries in a symbol table section (the null entry 0 excluded). */
function entryCount(s: SectionHeader | undefined): number | null {
  if (s === undefined || s.type === SHT_NOBITS) return null;
  return Math.max(0, Math.floor(s.size / SYM_SIZE) - 1);
}

/** The distinct sized functions of one symbol table. */
export function functionSymbols(elf: ElfFile, symtab: SectionHeader): FunctionList {
  const strHeader = elf.sections[symtab.link];
  const syms = elf.sectionData(symtab);
  const strs = strHeader === undefined ? Buffer.alloc(0) : elf.sectionData(strHeader);
  const count = Math.floor(syms.length / SYM_SIZE);
  const v = new DataView(syms.buffer, syms.byteOffset, count * SYM_SIZE);
  const bySt = new Map<number, number>();
  let cold = 0;
  for (let i = 1; i < count; i++) {
    const o = i * SYM_SIZE;
    if ((v.getUint8(o + 4) & 0xf) !== STT_FUNC) continue;
    if (v.getUint16(o + 6, true) === SHN_UNDEF) continue;
    const sizeHi = v.getUint32(o + 20, true);
    const size = sizeHi * TWO_32 + v.getUint32(o + 16, true);
    if (size === 0 || sizeHi >= 0x10000) continue;
    const addrHi = v.getUint32(o + 12, true);
    if (addrHi >= 0x200000) continue; // beyond 2^53: not a real link-time address
    const start = addrHi * TWO_32 + v.getUint32(o + 8, true);
    if (isColdName(strs, v.getUint32(o, true))) {
      cold++;
      continue;
    }
    const prev = bySt.get(start);
    if (prev === undefined || prev < size) bySt.set(start, size);
  }
  const starts = Float64Array.from(bySt.keys()).sort();
  const sizes = new Float64Array(starts.length);
  starts.forEach((s, i) => (sizes[i] = bySt.get(s)!));
  return { starts, sizes, cold };
}

/** Reads function prologues from the file in large chunks (functions come in address order). */
class CodeReader {
  private buf: Buffer = Buffer.alloc(0);
  private bufStart = 0;
  constructor(private readonly elf: ElfFile) {}

  /** `length` bytes at file offset `off` (fewer at the end of the file). */
  read(off: number, length: number): Buffer {
    if (off < this.bufStart || off + length > this.bufStart + this.buf.length) {
      const len = Math.min(Math.max(CHUNK, length), this.elf.source.size - off);
      this.buf = len > 0 ? this.elf.source.read(off, len) : Buffer.alloc(0);
      this.bufStart = off;
    }
    const at = off - this.bufStart;
    return this.buf.subarray(at, Math.min(this.buf.length, at + length));
  }
}

/** Measures how many of `fns` set up a frame pointer. Null when the architecture is unsupported. */
export function measureFramePointers(
  elf: ElfFile,
  fns: FunctionList,
  symbolSource: FramePointerStats['symbolSource'],
): FramePointerStats | null {
  const classify = classifierFor(elf.machine);
  if (classify === null) return null;
  const loads: { vaddr: number; end: number; offset: number }[] = elf.loads
    .filter((l: LoadSegment) => (l.flags & PF_X) !== 0)
    .map((l) => ({ vaddr: Number(l.vaddr), end: Number(l.vaddr + l.filesz), offset: Number(l.offset) }));
  const reader = new CodeReader(elf);
  const stats: FramePointerStats = {
    symbolSource,
    functions: 0,
    withFramePointer: 0,
    atEntry: 0,
    later: 0,
    bytes: 0,
    bytesWithFramePointer: 0,
    shareByCount: 0,
    shareByBytes: 0,
    skipped: fns.cold,
  };
  let seg = 0;
  for (let i = 0; i < fns.starts.length; i++) {
    const start = fns.starts[i];
    const size = fns.sizes[i];
    // Segments are few; the functions are sorted, so remember the last match.
    if (!(start >= loads[seg]?.vaddr && start < loads[seg].end)) {
      seg = loads.findIndex((l) => start >= l.vaddr && start < l.end);
      if (seg < 0) {
        seg = 0;
        stats.skipped++;
        continue;
      }
    }
    const l = loads[seg];
    const n = Math.min(size, PROLOGUE_WINDOW, l.end - start);
    const kind: PrologueKind = classify(reader.read(start - l.vaddr + l.offset, n));
    stats.functions++;
    stats.bytes += size;
    if (kind !== 'none') {
      stats.withFramePointer++;
      stats.bytesWithFramePointer += size;
      if (kind === 'entry') stats.atEntry++;
      else stats.later++;
    }
  }
  stats.shareByCount = stats.functions === 0 ? 0 : stats.withFramePointer / stats.functions;
  stats.shareByBytes = stats.bytes === 0 ? 0 : stats.bytesWithFramePointer / stats.bytes;
  return stats;
}

function archName(machine: number): string {
  if (machine === EM_X86_64) return 'x86-64';
  if (machine === EM_AARCH64) return 'aarch64';
  return `machine ${machine}`;
}

function typeName(type: number): string {
  if (type === ET_EXEC) return 'executable';
  if (type === ET_DYN) return 'shared object';
  if (type === 1) return 'relocatable';
  return 'other';
}

function hasData(s: SectionHeader | undefined): boolean {
  return s !== undefined && s.type !== SHT_NOBITS && s.size > 0;
}

/**
 * FDEs in .eh_frame (one per function range it can unwind). A build with
 * -fno-asynchronous-unwind-tables can leave a .eh_frame holding only the zero terminator: that
 * unwinds nothing. Entries: u32 length (0xffffffff: u64 follows; 0: terminator), u32 CIE id
 * (0 for a CIE, else an FDE).
 */
export function countFdes(elf: ElfFile): number {
  const s = elf.section('.eh_frame');
  if (!hasData(s)) return 0;
  const data = elf.sectionData(s!);
  let pos = 0;
  let fdes = 0;
  while (pos + 8 <= data.length) {
    let length = data.readUInt32LE(pos);
    let header = 4;
    if (length === 0) break;
    if (length === 0xffffffff) {
      if (pos + 16 > data.length) break;
      const big = data.readBigUInt64LE(pos + 4);
      if (big > BigInt(data.length)) break;
      length = Number(big);
      header = 12;
    }
    if (data.readUInt32LE(pos + header) !== 0) fdes++;
    pos += header + length;
  }
  return fdes;
}

export function pct(share: number): string {
  const p = share * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)} %`;
}

/** The verdict and its one-sentence reason. */
export function decideVerdict(fp: FramePointerStats | null, ehFrame: boolean): { verdict: Verdict; reason: string } {
  const measured = fp !== null && fp.functions > 0;
  if (measured && fp.shareByCount >= FP_WALKABLE_SHARE) {
    return {
      verdict: 'frame-pointer walkable',
      reason: `${pct(fp.shareByCount)} of ${fp.functions} functions set up a frame pointer`,
    };
  }
  const why = measured
    ? `only ${pct(fp.shareByCount)} of ${fp.functions} functions set up a frame pointer`
    : 'no sized function symbols to measure frame pointers with';
  if (ehFrame) return { verdict: 'needs CFI', reason: `${why}; .eh_frame is present` };
  return { verdict: 'not unwindable', reason: `${why}, and there is no .eh_frame` };
}

function compilerInfo(elf: ElfFile, filePath: string, debug: { elf: ElfFile; path: string } | null): CompilerInfo {
  const info: CompilerInfo = { producer: null, producerFrom: null, commandLine: null, framePointerFlag: null };
  const notes: string[] = [];
  for (const [e, p] of [[elf, filePath], ...(debug ? [[debug.elf, debug.path]] : [])] as [ElfFile, string][]) {
    try {
      info.commandLine ??= readGccCommandLine(e);
    } catch (err) {
      notes.push(`.GCC.command.line: ${(err as Error).message}`);
    }
    if (info.producer !== null) continue;
    try {
      const producer = readProducer(e, p);
      if (producer !== null) {
        info.producer = producer;
        info.producerFrom = p;
      }
    } catch (err) {
      notes.push(`${p}: ${(err as Error).message}`);
    }
  }
  const recorded = [info.producer ?? '', ...(info.commandLine ?? [])].join(' ');
  info.framePointerFlag = framePointerFlag(recorded);
  if (info.producer === null && info.commandLine === null)
    notes.unshift('no DW_AT_producer or .GCC.command.line recorded');
  if (notes.length > 0) info.note = notes.join('; ');
  return info;
}

/** Audits the ELF already opened as `fd`. `modulePath` is the file's path as the target sees it. */
export function auditElf(fd: number, modulePath: string, openedFrom: string, debugRoots: string[]): ModuleAudit {
  const elf = new ElfFile(new FdSource(fd));
  const symtab = elf.sections.find((s) => s.type === SHT_SYMTAB);
  const dynsym = elf.sections.find((s) => s.type === SHT_DYNSYM);
  let debug: { elf: ElfFile; path: string; fd: number } | null;
  try {
    debug = debugRoots.length > 0 ? findDebugFile(elf, modulePath, debugRoots) : null;
  } catch {
    debug = null;
  }
  try {
    const debugSymtabSec = debug?.elf.sections.find((s) => s.type === SHT_SYMTAB);
    let fns: FunctionList | null = null;
    let source: FramePointerStats['symbolSource'] = '.symtab';
    const candidates: [ElfFile, SectionHeader | undefined, FramePointerStats['symbolSource']][] = [
      [elf, symtab, '.symtab'],
      [debug?.elf ?? elf, debugSymtabSec, 'debug file .symtab'],
      [elf, dynsym, '.dynsym'],
    ];
    for (const [e, s, name] of candidates) {
      if (s === undefined || s.type === SHT_NOBITS) continue;
      const list = functionSymbols(e, s);
      if (list.starts.length > 0) {
        fns = list;
        source = name;
        break;
      }
    }
    const framePointers = fns === null ? null : measureFramePointers(elf, fns, source);
    const ehFrameFdes = countFdes(elf);
    const ehFrame = ehFrameFdes > 0;
    const { verdict, reason } = decideVerdict(framePointers, ehFrame);
    return {
      path: modulePath,
      openedFrom,
      arch: archName(elf.machine),
      elfType: typeName(elf.type),
      buildId: readBuildId(elf),
      ehFrame,
      ehFrameFdes,
      ehFrameHdr: hasData(elf.section('.eh_frame_hdr')),
      debugFrame: hasData(elf.section('.debug_frame')) || hasData(debug?.elf.section('.debug_frame')),
      symtab: entryCount(symtab),
      dynsym: entryCount(dynsym),
      debugFile: debug?.path ?? null,
      debugSymtab: entryCount(debugSymtabSec),
      framePointers,
      compiler: compilerInfo(elf, modulePath, debug),
      verdict,
      reason,
    };
  } finally {
    if (debug !== null) fs.closeSync(debug.fd);
  }
}

/** A module that could not be audited. */
export function failedAudit(modulePath: string, error: string): ModuleAudit {
  return {
    path: modulePath,
    openedFrom: null,
    arch: 'unknown',
    elfType: 'unknown',
    buildId: null,
    ehFrame: false,
    ehFrameFdes: 0,
    ehFrameHdr: false,
    debugFrame: false,
    symtab: null,
    dynsym: null,
    debugFile: null,
    debugSymtab: null,
    framePointers: null,
    compiler: { producer: null, producerFrom: null, commandLine: null, framePointerFlag: null },
    verdict: 'not unwindable',
    reason: `could not be read: ${error}`,
    error,
  };
}

/**
 * Audits are cached by file identity (dev, inode, size, mtime) and debug roots: a small
 * least-recently-used map (a Map iterates in insertion order; re-inserting makes an entry young).
 * Not the symbolizer's cache: auditing files must not need the native addon.
 */
const CACHE_CAPACITY = 64;
const cache = new Map<string, ModuleAudit>();
/** Audits served from the cache so far (tests and diagnostics). */
export const auditCacheStats = { hits: 0 };

function cacheGet(key: string): ModuleAudit | undefined {
  const v = cache.get(key);
  if (v !== undefined) {
    auditCacheStats.hits++;
    cache.delete(key);
    cache.set(key, v);
  }
  return v;
}
function cacheSet(key: string, v: ModuleAudit): void {
  cache.set(key, v);
  while (cache.size > CACHE_CAPACITY) cache.delete(cache.keys().next().value as string);
}

/**
 * Audits the first of `candidates` that opens as a regular file (e.g. /proc/<pid>/map_files/…,
 * then /proc/<pid>/root/<path>, then the path). Never throws: failures give a failed audit.
 */
export function auditModuleFile(modulePath: string, candidates: string[], debugRoots: string[]): ModuleAudit {
  let lastError = 'cannot open the file';
  for (const c of candidates) {
    let fd: number;
    try {
      if (!fs.statSync(c).isFile()) {
        lastError = 'not a regular file';
        continue;
      }
      fd = fs.openSync(c, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      lastError = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (e as Error).message;
      continue;
    }
    try {
      const st = fs.fstatSync(fd);
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${debugRoots.join('|')}`;
      const hit = cacheGet(key);
      if (hit !== undefined) return { ...hit, path: modulePath, openedFrom: c };
      const result = auditElf(fd, modulePath, c, debugRoots);
      cacheSet(key, result);
      return result;
    } catch (e) {
      return failedAudit(modulePath, (e as Error).message);
    } finally {
      fs.closeSync(fd);
    }
  }
  return failedAudit(modulePath, lastError);
}
