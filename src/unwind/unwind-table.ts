// A module's unwind table: its .eh_frame and .eh_frame_hdr handed to the native unwinder once,
// when the module is parsed (the bytes are copied there; afterwards only the id travels).
import { binding } from '../addon';
import { EM_AARCH64, EM_X86_64, type ElfFile } from '../elf/elf-file';

/**
 * Registers the ELF's unwind sections natively: the table id (0 if it has none) and the bytes
 * copied there.
 */
export function loadUnwindTable(elf: ElfFile): { id: number; bytes: number } {
  const none = { id: 0, bytes: 0 };
  const arch = elf.machine === EM_AARCH64 ? 'arm64' : elf.machine === EM_X86_64 ? 'x64' : null;
  if (arch === null) return none;
  const ehFrame = elf.section('.eh_frame');
  if (ehFrame === undefined || ehFrame.size === 0) return none;
  const hdr = elf.section('.eh_frame_hdr');
  try {
    const id = binding.loadCfi({
      arch,
      ehFrame: elf.sectionData(ehFrame),
      ehFrameVaddr: ehFrame.addr,
      ehFrameHdr: hdr === undefined ? undefined : elf.sectionData(hdr),
      ehFrameHdrVaddr: hdr?.addr,
    });
    return { id, bytes: id === 0 ? 0 : ehFrame.size + (hdr?.size ?? 0) };
  } catch {
    return none; // unreadable sections: frame pointers will have to do for this module
  }
}

/** Frees a table loadUnwindTable registered; its id then names no table. */
export function unloadUnwindTable(id: number): void {
  binding.unloadCfi(id);
}
