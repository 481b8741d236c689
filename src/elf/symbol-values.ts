// The link-time values of a few named symbols (data objects as well as functions): what a
// runtime reader needs to find an interpreter's globals (CPython's _PyRuntime, its type
// objects). .dynsym first (exported names survive stripping), then .symtab.
import { ElfFile, SHT_DYNSYM, SHT_STRTAB, SHT_SYMTAB, SYM_SIZE } from './elf-file';

const SHN_UNDEF = 0;
/** A symbol table larger than this is not scanned (node's .symtab is ~2.7 MB). */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

export interface SymbolValue {
  value: bigint;
  size: bigint;
}

/** The defined symbols among `names`, by name; names the file does not define are absent. */
export function symbolValues(elf: ElfFile, names: readonly string[]): Map<string, SymbolValue> {
  const wanted = new Set(names);
  const found = new Map<string, SymbolValue>();
  for (const type of [SHT_DYNSYM, SHT_SYMTAB]) {
    for (const tab of elf.sections.filter((s) => s.type === type)) {
      if (found.size === wanted.size) return found;
      const strHeader = elf.sections[tab.link];
      if (strHeader === undefined || strHeader.type !== SHT_STRTAB) continue;
      if (tab.entsize !== SYM_SIZE && tab.entsize !== 0) continue;
      if (tab.size > MAX_TABLE_BYTES || strHeader.size > MAX_TABLE_BYTES) continue;
      let syms: Buffer;
      let strs: Buffer;
      try {
        syms = elf.sectionData(tab);
        strs = elf.sectionData(strHeader);
      } catch {
        continue; // a table outside the file: the other one may still do
      }
      for (let o = 0; o + SYM_SIZE <= syms.length; o += SYM_SIZE) {
        if (syms.readUInt16LE(o + 6) === SHN_UNDEF) continue;
        const nameOff = syms.readUInt32LE(o);
        if (nameOff >= strs.length) continue;
        const end = strs.indexOf(0, nameOff);
        if (end < 0) continue;
        const name = strs.toString('latin1', nameOff, end);
        if (!wanted.has(name) || found.has(name)) continue;
        found.set(name, { value: syms.readBigUInt64LE(o + 8), size: syms.readBigUInt64LE(o + 16) });
      }
    }
  }
  return found;
}
