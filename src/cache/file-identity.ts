// What ties a cache entry to the file it was derived from: a file rebuilt, replaced or rewritten
// in place (even with its mtime put back: the ctime still moves) is another identity.
import * as fs from 'node:fs';
import { FdSource, type ElfFile } from '../elf/elf-file';

/** Device, inode, size, mtime and ctime (ns) of the open file behind `elf`; null for an
 *  in-memory ELF (the vdso, an embedded MiniDebugInfo file), which has none. */
export function fileIdentity(elf: ElfFile): string | null {
  if (!(elf.source instanceof FdSource)) return null;
  const st = fs.fstatSync(elf.source.fd, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}
