// How a mapped file is opened: the very object the process maps, through
// /proc/<pid>/map_files (it works for deleted and replaced files), else its path as the target
// sees it (target-file.ts: inside its root, as its user). Either way the file opened must be
// the one the maps line read at capture names (device and inode): by naming time the range
// may hold another library (dlclose + dlopen), and naming from it would give another
// library's names.
import * as fs from 'node:fs';
import type { MapEntry } from '../procfs/maps';
import { openTargetFile, targetRoot } from './target-file';

/** The kernel's `major:minor` (as maps prints it) of a userspace st_dev. */
function devString(dev: number): string {
  const major = (Math.floor(dev / 256) & 0xfff) | (Math.floor(dev / 4294967296) & ~0xfff);
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
}

/** Why a mapping's file is not used: what the frame's symbolReason says. */
export const FILE_CHANGED = 'the mapped file changed since the capture (another file is mapped there now)';

/**
 * Whether an opened file is the one the maps line names. Same device: the inode tells. Another
 * device (overlayfs shows the layer's file in maps, the overlay's through a path): the path
 * `through` (map_files' link, or the path opened) must be the mapping's.
 */
function isMappedFile(st: fs.Stats, m: MapEntry, through: () => string): boolean {
  if (m.inode === 0) return true;
  if (devString(st.dev) === m.dev) return st.ino === m.inode;
  return through() === m.path;
}

function linkOf(file: string): string {
  try {
    return fs.readlinkSync(file).replace(/ \(deleted\)$/, '');
  } catch {
    return '';
  }
}

/**
 * Opens the file a mapping shows, the surest way first: map_files is the very object mapped
 * (even if deleted or replaced since); the path is the fallback when it is not accessible.
 * Returns the open fd (the caller closes it) and its stat, or why it could not be opened.
 */
export function openMappedFile(pid: number, m: MapEntry): { fd: number; st: fs.Stats } | { failure: string } {
  // map_files names are unpadded hex.
  const mapFile = `/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`;
  let changed = false;
  let fd = -1;
  try {
    // Opening a device node (a mapped /dev/… file) can block or have side effects: only
    // regular files are opened, and without waiting.
    if (!fs.statSync(mapFile).isFile()) return { failure: 'not a regular file' };
    fd = fs.openSync(mapFile, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    if (isMappedFile(st, m, () => linkOf(mapFile))) return { fd, st };
    changed = true;
  } catch {
    // not accessible (no CAP_SYS_ADMIN, gone): the path
  }
  if (fd >= 0) fs.closeSync(fd);
  if (m.deleted) return { failure: changed ? FILE_CHANGED : 'cannot open the mapped file' };
  // maps shows paths from our root when the target's file is reachable from it (a chroot),
  // else as the target sees them (its own mount namespace): its root first, then ours.
  const where = targetRoot(pid);
  let opened = openTargetFile(m.path, where);
  if ('failure' in opened && opened.missing && where.root !== '')
    opened = openTargetFile(m.path, { root: '', creds: where.creds });
  if ('failure' in opened)
    return { failure: changed ? FILE_CHANGED : opened.missing ? 'cannot open the mapped file' : opened.failure };
  if (
    !isMappedFile(opened.st, m, () =>
      opened.path.startsWith(`/proc/${pid}/root/`) ? opened.path.slice(`/proc/${pid}/root`.length) : opened.path,
    )
  ) {
    fs.closeSync(opened.fd);
    return { failure: FILE_CHANGED };
  }
  return { fd: opened.fd, st: opened.st };
}
