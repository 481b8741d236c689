// How a mapped file is opened: the very object the process maps, through
// /proc/<pid>/map_files (it works for deleted and replaced files), else the path under the
// process's root (containers), else the path itself, each time checked to be the mapped file.
import * as fs from 'node:fs';
import type { MapEntry } from '../procfs/maps';

/** The kernel's `major:minor` (as maps prints it) of a userspace st_dev. */
function devString(dev: number): string {
  const major = (Math.floor(dev / 256) & 0xfff) | (Math.floor(dev / 4294967296) & ~0xfff);
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/**
 * Opens the file a mapping shows, the surest way first: map_files is the very object mapped
 * (even if deleted or replaced since); the paths are fallbacks when it is not accessible.
 * Returns the open fd (the caller closes it) and its stat, or why it could not be opened.
 */
export function openMappedFile(pid: number, m: MapEntry): { fd: number; st: fs.Stats } | { failure: string } {
  // map_files names are unpadded hex.
  const candidates = [`/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`];
  if (!m.deleted) candidates.push(`/proc/${pid}/root${m.path}`, m.path);
  for (let c = 0; c < candidates.length; c++) {
    let fd: number;
    try {
      // Opening a device node or FIFO (a mapped /dev/… file) can block or have side
      // effects: only regular files are opened, and without waiting.
      if (!fs.statSync(candidates[c]).isFile()) return { failure: 'not a regular file' };
      fd = fs.openSync(candidates[c], fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    } catch {
      continue;
    }
    let st: fs.Stats;
    try {
      st = fs.fstatSync(fd);
    } catch (e) {
      fs.closeSync(fd);
      return { failure: `read: ${(e as Error).message}` };
    }
    // Through a path, the file may have been replaced since it was mapped; when the device
    // matches, the inode tells. (Across overlayfs the devices differ; then trust the path.)
    if ((c > 0 && m.inode !== 0 && devString(st.dev) === m.dev && st.ino !== m.inode) || !st.isFile()) {
      fs.closeSync(fd);
      if (st.isFile()) continue;
      return { failure: 'not a regular file' };
    }
    return { fd, st };
  }
  return { failure: 'cannot open the mapped file' };
}
