// MiniDebugInfo (gdb manual, "MiniDebugInfo"): Fedora and RHEL strip their binaries but embed,
// in the section .gnu_debugdata, an xz-compressed ELF whose .symtab keeps the function symbols
// that .dynsym lacks (static functions above all). The embedded file is never mapped: its
// symbols carry the binary's own link-time addresses, so only its symbol table is of use.
import { BufferSource, ElfError, ElfFile, SHT_NOBITS } from './elf-file';

/**
 * Decompresses a whole .xz stream, throwing on bad data. Passed in (the addon's xzDecompress,
 * through the Symbolizer's options) so that src/elf does not depend on the native binding.
 */
export type XzDecompress = (compressed: Buffer) => Buffer;

export const GNU_DEBUGDATA = '.gnu_debugdata';

/**
 * The ELF embedded in `elf`'s .gnu_debugdata, or null when the file has none. Throws an Error
 * saying why when the section is there but unusable (no decoder, bad xz, not an ELF inside).
 */
export function miniDebugInfo(elf: ElfFile, xzDecompress: XzDecompress | undefined): ElfFile | null {
  const section = elf.section(GNU_DEBUGDATA);
  if (section === undefined || section.type === SHT_NOBITS) return null;
  if (xzDecompress === undefined) throw new Error('no xz decoder was given');
  const inner = xzDecompress(elf.sectionData(section));
  let embedded: ElfFile;
  try {
    embedded = new ElfFile(new BufferSource(inner));
  } catch (e) {
    throw new ElfError(`embedded file: ${(e as Error).message}`);
  }
  // Symbols of another architecture's file would name the wrong code.
  if (embedded.machine !== elf.machine)
    throw new ElfError(`embedded file is for e_machine ${embedded.machine}, the binary for ${elf.machine}`);
  return embedded;
}
