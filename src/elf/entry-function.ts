// The function at a file's ELF entry point (e_entry): where the process starts, so a thread
// whose walk reaches it is complete even when the binary is stripped (no `_start` to name) or
// names it with a size-0 symbol (only its first byte would match). Its extent comes from its
// sized symbol, else from the next function start in .eh_frame_hdr's table, else a short window.
import type { ElfFile } from './elf-file';
import type { SymbolTable } from './symbols';

/** Link-time address range [start, end) of the entry function. */
export interface EntryFunction {
  start: bigint;
  end: bigint;
}

/** How far past e_entry a function with no known end is taken to reach (glibc's _start: 38 bytes). */
const ENTRY_WINDOW = 64n;

/** The usual .eh_frame_hdr encodings: pcrel sdata4 pointer, udata4 count, datarel sdata4 table. */
const HDR_PTR = 0x1b;
const HDR_COUNT = 0x03;
const HDR_TABLE = 0x3b;

/** The first function start above `addr` in .eh_frame_hdr's sorted table, if it has one. */
function nextFdeStart(elf: ElfFile, addr: bigint): bigint | undefined {
  const s = elf.section('.eh_frame_hdr');
  if (s === undefined || s.size < 12 || s.type === 8 /* NOBITS */) return undefined;
  const hdr = elf.sectionData(s);
  if (hdr[0] !== 1 || hdr[1] !== HDR_PTR || hdr[2] !== HDR_COUNT || hdr[3] !== HDR_TABLE) return undefined;
  const count = Math.min(hdr.readUInt32LE(8), Math.floor((hdr.length - 12) / 8));
  let lo = 0;
  let hi = count; // first entry whose start > addr
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (s.addr + BigInt(hdr.readInt32LE(12 + mid * 8)) > addr) hi = mid;
    else lo = mid + 1;
  }
  return lo < count ? s.addr + BigInt(hdr.readInt32LE(12 + lo * 8)) : undefined;
}

/** The entry function of elf, or undefined when it has no entry point. Never throws. */
export function entryFunction(elf: ElfFile, symbols: SymbolTable | null): EntryFunction | undefined {
  const start = elf.entry;
  if (start === 0n) return undefined;
  const hit = { index: 0, offset: 0 };
  if (symbols !== null && symbols.lookup(start, hit) && hit.offset === 0) {
    const size = symbols.symbolSize(hit.index);
    if (size > 0) return { start, end: start + BigInt(size) };
  }
  let end = start + ENTRY_WINDOW;
  try {
    const next = nextFdeStart(elf, start);
    if (next !== undefined && next < end) end = next;
  } catch {
    // an unreadable .eh_frame_hdr: the window stands
  }
  return { start, end };
}
