// Where the persistent module cache lives, and whether it may be used at all. By default the
// XDG cache directory ($XDG_CACHE_HOME/stackshot, else ~/.cache/stackshot); STACKSHOT_CACHE_DIR
// names another; STACKSHOT_CACHE=off (or the CLI's --no-cache) turns it off. A directory that
// is not ours, or that others may write, is never used: whoever controls it could plant entries
// or swap them (stackshot often runs as root against other users' processes). Then a warning,
// once, and the snapshot goes on without the cache.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Off for this process, whatever the environment says (the CLI's --no-cache). */
let disabled = false;
/** The directory, resolved and checked once per process (undefined: not yet; null: none). */
let resolved: string | null | undefined;

export function setPersistentCacheEnabled(enabled: boolean): void {
  disabled = !enabled;
}

/** False once setPersistentCacheEnabled(false) turned the cache off for this process. */
export function persistentCacheEnabled(): boolean {
  return !disabled;
}

/** Forgets the directory checked before (tests change the environment between runs). */
export function resetCacheDir(): void {
  resolved = undefined;
}

function configuredDir(): string | null {
  const off = process.env.STACKSHOT_CACHE;
  if (disabled || off === 'off' || off === '0') return null;
  const explicit = process.env.STACKSHOT_CACHE_DIR;
  if (explicit !== undefined && explicit !== '') return path.resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec: a relative XDG_CACHE_HOME is invalid and is ignored.
  const base = xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(os.homedir(), '.cache');
  return path.join(base, 'stackshot');
}

/** Why `dir` must not be used, or null when it is ours and closed to others. */
export function unsafeDirReason(st: fs.Stats, euid: number): string | null {
  if (!st.isDirectory()) return 'not a directory';
  if (st.uid !== euid) return `owned by uid ${st.uid}, not by uid ${euid}`;
  if ((st.mode & 0o022) !== 0) return `writable by others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

/** Directories warned about in this process: shared with the bundled copy of this module
 *  that the `stackshot` entry loads (see bin.ts), so the warning comes once. */
const WARNED = Symbol.for('stackshot.cacheDirWarned');

function warnUnsafe(dir: string, reason: string): void {
  const g = globalThis as { [WARNED]?: Set<string> };
  const warned = (g[WARNED] ??= new Set());
  if (warned.has(dir)) return;
  warned.add(dir);
  process.emitWarning(
    `stackshot: not using the module cache directory ${dir}: ${reason}. Set STACKSHOT_CACHE_DIR to a directory only you can write, or STACKSHOT_CACHE=off.`,
    { code: 'STACKSHOT_CACHE_DIR_UNSAFE' },
  );
}

/** The cache directory to read and write, created (0700) if missing; null when off or unsafe. */
export function cacheDir(): string | null {
  if (disabled) return null;
  if (resolved !== undefined) return resolved;
  resolved = null;
  const dir = configuredDir();
  if (dir === null) return null;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const reason = unsafeDirReason(fs.statSync(dir), process.geteuid?.() ?? -1);
    if (reason !== null) warnUnsafe(dir, reason);
    else resolved = dir;
  } catch {
    // No home, a read-only file system: parse without a cache, as before.
  }
  return resolved;
}
