// `unwind`'s check of a capture's modules: the file now at each recorded path must be the one
// the capture was taken with (same size and build-id, or SHA-256 when it has no build-id).
// A file that changed (an upgrade, a rebuild), is gone, or was never recorded (a capture whose
// maps were edited to point at other files) would be unwound and named from the wrong bytes:
// garbage frames with no error. perf and gdb warn on a build-id mismatch; here it is refused,
// unless the capture embeds the module (--embed-modules) or the caller accepts unnamed frames.
import * as fs from 'node:fs';

import { openTargetFile } from '../symbolize/target-file';
import type { SavedCapture, SavedModule } from './capture-schema';
import { buildIdOf, MAX_HASHED_BYTES, moduleKey, moduleMappings, sha256Of } from './record-modules';

/** The file found for a module, as opened: to reopen exactly it (same device and inode). */
export interface FoundFile {
  path: string;
  dev: number;
  ino: number;
}

/** One module's verdict. */
export interface ModuleCheck {
  path: string;
  record?: SavedModule;
  /** The file at the path is the one recorded. */
  file?: FoundFile;
  /** Why the file at the path is not the one recorded (absent when it is, or cannot be told). */
  changed?: string;
}

const short = (id: string) => (id.length > 16 ? `${id.slice(0, 16)}…` : id);

/** Why the opened file is not the recorded one, or undefined when it is. */
function difference(record: SavedModule, fd: number, size: number): string | undefined {
  if (record.buildId !== undefined) {
    const now = buildIdOf(fd, size);
    if (now !== record.buildId) return `build-id ${short(record.buildId)} is now ${now === null ? 'none' : short(now)}`;
  }
  // The same build-id at another size: the same build, stripped differently (or forged).
  if (record.size !== undefined && record.size !== size) return `size ${record.size} is now ${size}`;
  if (record.sha256 !== undefined) {
    if (size > MAX_HASHED_BYTES) return 'too large to hash';
    if (sha256Of(fd, size) !== record.sha256) return 'its contents changed (SHA-256)';
  }
  return undefined;
}

function checkOne(record: SavedModule): ModuleCheck {
  const check: ModuleCheck = { path: record.path, record };
  // Nothing to compare with: the file was unreadable at capture time.
  if (record.buildId === undefined && record.sha256 === undefined) return check;
  const opened = openTargetFile(record.path, { root: '', creds: null });
  if ('failure' in opened) return { ...check, changed: opened.missing ? 'no longer exists' : opened.failure };
  try {
    const changed = difference(record, opened.fd, opened.st.size);
    if (changed !== undefined) return { ...check, changed };
    return { ...check, file: { path: opened.path, dev: opened.st.dev, ino: opened.st.ino } };
  } catch (e) {
    return { ...check, changed: `unreadable: ${(e as Error).message}` };
  } finally {
    fs.closeSync(opened.fd);
  }
}

/**
 * The verdict on every module the capture's maps show, by moduleKey. Version 1 captures hold
 * no records: an empty map (their files are used as found, as before).
 */
export function checkModules(saved: SavedCapture): Map<string, ModuleCheck> {
  const out = new Map<string, ModuleCheck>();
  if (saved.modules === undefined) return out;
  const records = new Map(saved.modules.map((r) => [moduleKey(r), r]));
  for (const m of moduleMappings(saved.maps)) {
    const key = moduleKey(m);
    const record = records.get(key);
    if (record === undefined) {
      // The vdso is recorded only with its image; every file mapping always is.
      if (m.path !== '[vdso]') out.set(key, { path: m.path, changed: 'not recorded in the capture' });
      continue;
    }
    out.set(key, m.path === '[vdso]' ? { path: m.path, record } : checkOne(record));
  }
  return out;
}

/** The modules that changed and that the capture cannot stand in for (no embedded image). */
export function unusableModules(checks: Map<string, ModuleCheck>): ModuleCheck[] {
  return [...checks.values()].filter((c) => c.changed !== undefined && c.record?.image === undefined);
}
