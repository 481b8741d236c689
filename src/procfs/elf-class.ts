// Which architecture a process runs, from the ELF header of its executable (/proc/<pid>/exe),
// read before any stop: a 32-bit process (i386, x32, arm32) has another register set, word size
// and signal frame, which stackshot does not unwind. The file belongs to the target: opened
// non-blocking, a regular file only, 20 bytes read.
import * as fs from 'node:fs';

import { EM_AARCH64, EM_X86_64 } from '../elf/elf-file';
import type { Arch } from '../types';

/** e_machine values of the 32-bit machines it names (the others are elf-file's). */
const EM_386 = 3;
const EM_ARM = 40;

/** The (ELF class, e_machine) each addon architecture unwinds. */
const NATIVE: Record<Arch, { machine: number; name: string }> = {
  x64: { machine: EM_X86_64, name: 'x86-64' },
  arm64: { machine: EM_AARCH64, name: 'aarch64' },
};

const MACHINE_NAMES: Record<number, string> = {
  [EM_386]: 'i386',
  [EM_ARM]: 'arm',
  [EM_X86_64]: 'x86-64',
  [EM_AARCH64]: 'aarch64',
};

/**
 * Why pid's executable is not one stackshot (built for `arch`) can unwind ('32-bit i386', ...),
 * or null when it is, or when its header cannot be read (permissions: the kernel decides then).
 */
export function foreignArchitecture(pid: number, arch: Arch): string | null {
  const want = NATIVE[arch];
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/exe`, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fs.fstatSync(fd).isFile()) return null;
    const h = Buffer.alloc(20);
    if (fs.readSync(fd, h, 0, h.length, 0) < h.length) return null;
    if (h.readUInt32BE(0) !== 0x7f454c46) return null; // not ELF: nothing to say
    const bits = h[4] === 1 ? 32 : h[4] === 2 ? 64 : 0;
    const machine = h[5] === 2 ? h.readUInt16BE(18) : h.readUInt16LE(18);
    if (bits === 64 && machine === want.machine) return null;
    const name = MACHINE_NAMES[machine] ?? `machine ${machine}`;
    return `${bits === 0 ? '' : `${bits}-bit `}${name}`;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
  }
}
