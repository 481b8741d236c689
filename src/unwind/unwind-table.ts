// A module's unwind table: its .eh_frame and .eh_frame_hdr, and its .debug_frame (its own, else
// its separate debug file's), handed to the native unwinder once, when the module is parsed (as
// bytes copied there, or as where they are in the module's file; afterwards only the id travels). .debug_frame matters where a module
// has no .eh_frame at all: Go binaries carry only .debug_frame, and so do some static and
// embedded builds; eu-stack and gdb unwind them with it. A Go binary stripped of it gets the one
// its .gopclntab implies (go-debug-frame.ts).
import { binding, type CfiSections, type FileRange } from '../addon';
import type { Arch } from '../types';
import { sectionBytes } from '../dwarf/sections';
import { goDebugFrame } from './go-debug-frame';
import {
  EM_AARCH64,
  EM_X86_64,
  SHT_NOBITS,
  ElfError,
  FdSource,
  type ElfFile,
  type SectionHeader,
} from '../elf/elf-file';

/** sh_flags bit of a compressed section: loaded sections (.eh_frame) never are. */
const SHF_COMPRESSED = 0x800;

/** The section when it holds plain bytes in the file (not NOBITS in a debug file, not compressed). */
function plainSection(elf: ElfFile, name: string): SectionHeader | undefined {
  const s = elf.section(name);
  if (s === undefined || s.type === SHT_NOBITS || s.size === 0 || (s.flags & SHF_COMPRESSED) !== 0) return undefined;
  return s;
}

/** A .debug_frame's bytes, inflated when compressed (Go compresses its DWARF); undefined when unusable. */
function debugFrameBytes(elf: ElfFile): Buffer | undefined {
  const s = elf.section('.debug_frame');
  if (s === undefined || s.type === SHT_NOBITS || s.size === 0) return undefined;
  try {
    return sectionBytes(elf, s);
  } catch {
    return undefined; // zstd, or a corrupt stream: no .debug_frame from this file
  }
}

interface PickedSections {
  arch: Arch;
  ehFrame?: SectionHeader;
  hdr?: SectionHeader;
  debugFrame?: Buffer;
}

/**
 * Which unwind sections the ELF has (undefined when none, or for an architecture stackshot
 * does not unwind). `debug` is the module's separate debug file, if one was found: its
 * .debug_frame (same link-time addresses) is used when the module has none of its own.
 */
function pickSections(elf: ElfFile, debug?: ElfFile): PickedSections | undefined {
  const arch: Arch | null = elf.machine === EM_AARCH64 ? 'arm64' : elf.machine === EM_X86_64 ? 'x64' : null;
  if (arch === null) return undefined;
  const ehFrame = plainSection(elf, '.eh_frame');
  const hdr = ehFrame === undefined ? undefined : plainSection(elf, '.eh_frame_hdr');
  const debugFrame =
    debugFrameBytes(elf) ??
    (debug?.machine === elf.machine ? debugFrameBytes(debug) : undefined) ??
    (ehFrame === undefined ? goDebugFrame(elf, arch) : undefined);
  if (ehFrame === undefined && debugFrame === undefined) return undefined;
  return { arch, ehFrame, hdr, debugFrame };
}

function asBytes(elf: ElfFile, p: PickedSections): CfiSections {
  return {
    arch: p.arch,
    ehFrame: p.ehFrame === undefined ? undefined : elf.sectionData(p.ehFrame),
    ehFrameVaddr: p.ehFrame?.addr,
    ehFrameHdr: p.hdr === undefined ? undefined : elf.sectionData(p.hdr),
    ehFrameHdrVaddr: p.hdr?.addr,
    debugFrame: p.debugFrame,
  };
}

/** The ELF's unwind sections (see pickSections) as bytes: what a capture file keeps. */
export function unwindSections(elf: ElfFile, debug?: ElfFile): CfiSections | undefined {
  const p = pickSections(elf, debug);
  return p === undefined ? undefined : asBytes(elf, p);
}

/** The section's place in its file, checked against the file's size. */
function fileRange(elf: ElfFile, s: SectionHeader): FileRange {
  if (s.offset + s.size > elf.source.size) throw new ElfError(`${s.name} runs past the end of the file`);
  return { offset: s.offset, size: s.size };
}

/**
 * As unwindSections, but .eh_frame and .eh_frame_hdr as where they are in the ELF's file, when
 * it is one: node's .eh_frame is 2.7 MB, of which a snapshot needs a few dozen FDEs.
 */
function unwindSectionsInFile(elf: ElfFile, debug?: ElfFile): CfiSections | undefined {
  const p = pickSections(elf, debug);
  if (p === undefined) return undefined;
  if (p.ehFrame === undefined || !(elf.source instanceof FdSource)) return asBytes(elf, p);
  return {
    arch: p.arch,
    ehFrameVaddr: p.ehFrame.addr,
    ehFrameHdrVaddr: p.hdr?.addr,
    file: {
      fd: elf.source.fd,
      ehFrame: fileRange(elf, p.ehFrame),
      ehFrameHdr: p.hdr === undefined ? undefined : fileRange(elf, p.hdr),
    },
    debugFrame: p.debugFrame,
  };
}

/** Registers unwind sections natively: the table id (0 if none) and the bytes it may hold. */
function registerUnwindSections(sections: CfiSections): { id: number; bytes: number } {
  const id = binding.loadCfi(sections);
  const inFile = (sections.file?.ehFrame.size ?? 0) + (sections.file?.ehFrameHdr?.size ?? 0);
  const bytes =
    inFile + (sections.ehFrame?.length ?? 0) + (sections.ehFrameHdr?.length ?? 0) + (sections.debugFrame?.length ?? 0);
  return { id, bytes: id === 0 ? 0 : bytes };
}

/**
 * Registers the ELF's unwind sections natively (see unwindSections): the table id (0 if it has
 * none) and the bytes it may hold (.eh_frame read from the file counts whole, read or not).
 */
export function loadUnwindTable(elf: ElfFile, debug?: ElfFile): { id: number; bytes: number } {
  try {
    const sections = unwindSectionsInFile(elf, debug);
    return sections === undefined ? { id: 0, bytes: 0 } : registerUnwindSections(sections);
  } catch {
    return { id: 0, bytes: 0 }; // unreadable sections: frame pointers will have to do for this module
  }
}

/** Frees a table loadUnwindTable registered; its id then names no table. */
export function unloadUnwindTable(id: number): void {
  binding.unloadCfi(id);
}
