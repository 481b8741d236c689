// A module's unwind table: its .eh_frame and .eh_frame_hdr handed to the native unwinder once,
// when the module is parsed (the bytes are copied there; afterwards only the id travels).
import { binding } from '../addon';
import { EM_AARCH64, EM_X86_64, type ElfFile } from '../elf/elf-file';

/** Registers the ELF's unwind sections natively; returns the table id, 0 if it has none. */
export function loadUnwindTable(elf: ElfFile): number {
  const arch = elf.machine === EM_AARCH64 ? 'arm64' : elf.machine === EM_X86_64 ? 'x64' : null;
  if (arch === null) return 0;
  const ehFrame = elf.section('.eh_frame');
  if (ehFrame === undefined || ehFrame.size === 0) return 0;
  const hdr = elf.section('.eh_frame_hdr');
  try {
    return binding.loadCfi({
      arch,
      ehFrame: elf.sectionData(ehFrame),
      ehFrameVaddr: ehFrame.addr,
      ehFrameHdr: hdr === undefined ? undefined : elf.sectionData(hdr),
      ehFrameHdrVaddr: hdr?.addr,
    });
  } catch {
    return 0; // unreadable sections: frame pointers will have to do for this module
  }
}
