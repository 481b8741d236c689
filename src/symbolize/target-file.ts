// Opening a file the target controls: its perf map, the debug files its binaries point at
// (.gnu_debuglink, build-id), any path under its root. The target (or its user) may have made
// the file a FIFO or a device (opening or reading one blocks), a symlink out of its own root
// (an absolute symlink seen through /proc/<pid>/root resolves against OUR root), or a symlink to
// a file only root may read (stackshot often runs as root: it would print the file's contents
// as a symbol name). So, the one rule for all of them:
//   - the path is resolved here, component by component, inside the target's root: absolute
//     symlinks restart at that root and `..` stops there;
//   - every directory walked must be searchable, and the file readable, by the target's own
//     user (its fsuid and groups from /proc/<pid>/status), by owner and mode bits;
//   - only a regular file is opened, O_NONBLOCK|O_NOFOLLOW, and it must be (fstat after open)
//     the very file that was checked: same device and inode.
import * as fs from 'node:fs';

/** Whose permissions a file read for a target must satisfy. */
export interface TargetCreds {
  /** The target's filesystem uid (as this process's user namespace sees it). */
  uid: number;
  /** Its filesystem gid and supplementary groups. */
  gids: number[];
}

/** Where a target's paths resolve, and for whom. */
export interface TargetRoot {
  /** The target's `/` as this process reaches it: '/proc/<pid>/root', or '' for our own. */
  root: string;
  /** Null: no permission check (root targets, or a process that is gone). */
  creds: TargetCreds | null;
}

export interface OpenedTargetFile {
  fd: number;
  st: fs.Stats;
  /** The path opened (root prefix and resolved path): for display, or reopenTargetFile. */
  path: string;
}

/** Why a file was not opened (without its path: callers say which file); `missing` when there
 *  simply is none (try the next candidate). */
export interface TargetFileFailure {
  failure: string;
  missing?: boolean;
}

/** Symlinks followed in one resolution, as the kernel's MAXSYMLINKS. */
const MAX_SYMLINKS = 40;

/** The target's filesystem credentials, or null when they cannot be read or need no check. */
export function targetCreds(pid: number): TargetCreds | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  // Uid:/Gid: are real, effective, saved, filesystem; access checks use the last.
  const ids = (field: string): number[] =>
    (new RegExp(`^${field}:\\s*(.*)$`, 'm').exec(status)?.[1] ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  const uid = ids('Uid')[3];
  const gid = ids('Gid')[3];
  if (uid === undefined || gid === undefined) return null;
  if (uid === 0) return null; // root reads any file (CAP_DAC_OVERRIDE): nothing to refuse
  return { uid, gids: [gid, ...ids('Groups')] };
}

/** The view of a target's files: its root when we can reach it, its credentials. */
export function targetRoot(pid: number): TargetRoot {
  let root = '';
  try {
    if (fs.readlinkSync(`/proc/${pid}/root`) !== '/') root = `/proc/${pid}/root`;
  } catch {
    // No access to its root: this machine's paths.
  }
  return { root, creds: targetCreds(pid) };
}

/** Whether `creds` may access a file of this owner and mode: `bit` 4 read, 1 search. */
function permits(creds: TargetCreds, st: fs.Stats, bit: number): boolean {
  if (st.uid === creds.uid) return (st.mode & (bit << 6)) !== 0;
  if (creds.gids.includes(st.gid)) return (st.mode & (bit << 3)) !== 0;
  return (st.mode & bit) !== 0;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
}

/**
 * Opens `file` (an absolute path as the target sees it) under `where.root`, by the rule at the
 * top of this file. On success the caller owns the fd and closes it.
 */
export function openTargetFile(file: string, where: TargetRoot): OpenedTargetFile | TargetFileFailure {
  const { root, creds } = where;
  const done: string[] = []; // resolved components, no symlinks among them
  const todo = file.split('/').reverse();
  let links = 0;
  let st: fs.Stats | undefined;
  while (todo.length > 0) {
    const part = todo.pop() as string;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop(); // at the root, `..` is the root
      st = undefined;
      continue;
    }
    const at = `${root}/${[...done, part].join('/')}`;
    try {
      st = fs.lstatSync(at);
    } catch (e) {
      const code = errCode(e);
      return { failure: `cannot open: ${code}`, missing: code === 'ENOENT' || code === 'ENOTDIR' };
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return { failure: 'too many symlinks' };
      let target: string;
      try {
        target = fs.readlinkSync(at);
      } catch (e) {
        return { failure: `cannot open: ${errCode(e)}` };
      }
      if (target.startsWith('/')) done.length = 0; // absolute: from the target's root
      todo.push(...target.split('/').reverse());
      st = undefined;
      continue;
    }
    if (todo.some((p) => p !== '' && p !== '.')) {
      // A directory on the way: the target's user must be able to search it.
      if (!st.isDirectory()) return { failure: 'cannot open: ENOTDIR', missing: true };
      if (creds !== null && !permits(creds, st, 1))
        return { failure: `not accessible to the target's user (uid ${creds.uid})` };
    }
    done.push(part);
  }
  if (st === undefined || !st.isFile()) return { failure: 'not a regular file' };
  if (creds !== null && !permits(creds, st, 4))
    return { failure: `not readable by the target's user (uid ${creds.uid})` };
  const resolved = `${root}/${done.join('/')}`;
  const opened = openChecked(resolved, st);
  return opened;
}

/** Opens `file` again (a path openTargetFile returned), accepting only the same file. */
export function reopenTargetFile(
  file: string,
  same: { dev: number; ino: number },
): OpenedTargetFile | TargetFileFailure {
  return openChecked(file, same);
}

/** Opens a regular file without blocking or following a last symlink; it must be `expect`. */
function openChecked(file: string, expect: { dev: number; ino: number }): OpenedTargetFile | TargetFileFailure {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  } catch (e) {
    return { failure: `cannot open: ${errCode(e)}`, missing: errCode(e) === 'ENOENT' };
  }
  try {
    const st = fs.fstatSync(fd);
    // Replaced between the check and the open: not the file that was checked.
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.dev !== expect.dev || st.ino !== expect.ino) throw new Error('replaced while being opened');
    return { fd, st, path: file };
  } catch (e) {
    fs.closeSync(fd);
    return { failure: (e as Error).message };
  }
}
