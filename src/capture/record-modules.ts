// What `--save` records of each module a capture's executable mappings show: the file's size
// and GNU build-id (or, lacking one, the SHA-256 of its bytes), which `unwind` checks the file
// it finds against (check-modules.ts); and, with --embed-modules, the module's reduced image
// (module-image.ts), from which the capture unwinds and names where the file is gone or changed.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';

import { binding } from '../addon';
import { readBuildId } from '../elf/build-id';
import { BufferSource, ElfFile, FdSource } from '../elf/elf-file';
import { pltStubs } from '../elf/plt';
import { parseMaps, type MapEntry } from '../procfs/maps';
import { openMappedFile } from '../symbolize/mapped-file';
import { loadElfModule, releaseModule } from '../symbolize/module-cache';
import { debugRootsOf } from '../symbolize/module-registry';
import { reopenTargetFile, type TargetRoot } from '../symbolize/target-file';
import { unwindSections } from '../unwind/unwind-table';
import { CAPTURE_LIMITS, type SavedModule } from './capture-schema';
import { moduleImage } from './module-image';

/** The vdso is one or two pages; anything far larger in that slot is not a vdso. */
const VDSO_MAX = 1 << 20;
const HASH_CHUNK = 1 << 20;

/** How a mapping and its module record are matched: the maps line's path, device and inode. */
export function moduleKey(m: { path: string; dev: string; inode: number }): string {
  return `${m.dev} ${m.inode} ${m.path}`;
}

/** The mappings whose files unwinding and naming read: executable, file-backed or the vdso. */
export function moduleMappings(maps: string): MapEntry[] {
  const seen = new Set<string>();
  return parseMaps(maps).filter((m) => {
    if (m.perms[2] !== 'x' || !(m.path.startsWith('/') || m.path === '[vdso]')) return false;
    const key = moduleKey(m);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Files without a build-id are hashed; past this size they are not identified (a sparse
 *  file of terabytes named by a forged capture must not keep `unwind` hashing for hours). */
export const MAX_HASHED_BYTES = 4 * 1024 * 1024 * 1024;

/** The file's GNU build-id, or null when it has none (or is not ELF). */
export function buildIdOf(fd: number, size: number): string | null {
  try {
    return readBuildId(new ElfFile(new FdSource(fd, size)));
  } catch {
    return null; // not ELF, or a damaged one
  }
}

/** The SHA-256 of the file's bytes (size at most MAX_HASHED_BYTES). */
export function sha256Of(fd: number, size: number): string {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(HASH_CHUNK);
  for (let at = 0; at < size;) {
    const n = fs.readSync(fd, chunk, 0, Math.min(HASH_CHUNK, size - at), at);
    if (n === 0) break;
    hash.update(chunk.subarray(0, n));
    at += n;
  }
  return hash.digest('hex');
}

/** What identifies a file: its size and build-id, or its size and SHA-256 when it has none. */
function identify(fd: number, size: number): Pick<SavedModule, 'size' | 'buildId' | 'sha256' | 'unreadable'> {
  const buildId = buildIdOf(fd, size);
  if (buildId !== null) return { size, buildId };
  if (size > MAX_HASHED_BYTES) return { size, unreadable: 'no build-id, and too large to hash' };
  return { size, sha256: sha256Of(fd, size) };
}

/** The reduced image of the module in `elf`: symbols from every source, unwind sections. */
function imageOf(elf: ElfFile, path: string, roots: readonly TargetRoot[]): Buffer {
  const mod = loadElfModule(elf, path, roots, binding.xzDecompress);
  let debug: ElfFile | undefined;
  let debugFd: number | undefined;
  try {
    if (mod.debugFile !== undefined && mod.debugFileId !== undefined) {
      const opened = reopenTargetFile(mod.debugFile, mod.debugFileId);
      if (!('failure' in opened)) {
        debugFd = opened.fd;
        debug = new ElfFile(new FdSource(opened.fd, opened.st.size));
      }
    }
    return moduleImage(elf, mod.symbols, unwindSections(elf, debug), path === '[vdso]' ? [] : pltStubs(elf));
  } finally {
    releaseModule(mod);
    if (debugFd !== undefined) fs.closeSync(debugFd);
  }
}

/** Base64 characters of images embedded so far, against CAPTURE_LIMITS.imagesChars. */
interface Budget {
  chars: number;
}

/** The image as a capture holds it, unless too large to hold (alone, or with those before it). */
function embedded(image: Buffer, budget: Budget): Pick<SavedModule, 'image' | 'notEmbedded'> {
  const chars = Math.ceil(image.length / 3) * 4;
  if (image.length > CAPTURE_LIMITS.imageBytes) return { notEmbedded: 'larger than a capture may embed' };
  if (budget.chars + chars > CAPTURE_LIMITS.imagesChars)
    return { notEmbedded: 'the capture reached the size its embedded modules may take' };
  budget.chars += chars;
  return { image: image.toString('base64') };
}

function embeddedFile(
  fd: number,
  size: number,
  path: string,
  budget: Budget,
  roots: readonly TargetRoot[],
): Pick<SavedModule, 'image' | 'notEmbedded'> {
  try {
    return embedded(imageOf(new ElfFile(new FdSource(fd, size)), path, roots), budget);
  } catch (e) {
    return { notEmbedded: (e as Error).message }; // not ELF, or damaged: checked, not embedded
  }
}

function recordFile(pid: number, m: MapEntry, budget: Budget | null, roots: readonly TargetRoot[]): SavedModule {
  const record: SavedModule = { path: m.path, dev: m.dev, inode: m.inode };
  const opened = openMappedFile(pid, m);
  if ('failure' in opened) return { ...record, unreadable: opened.failure };
  try {
    Object.assign(record, identify(opened.fd, opened.st.size));
    if (budget !== null) Object.assign(record, embeddedFile(opened.fd, opened.st.size, m.path, budget, roots));
  } catch (e) {
    record.unreadable = (e as Error).message;
  } finally {
    fs.closeSync(opened.fd);
  }
  return record;
}

/** The vdso exists only in memory: its image is read from the target (root or ptrace access). */
function recordVdso(pid: number, m: MapEntry, budget: Budget): SavedModule {
  const record: SavedModule = { path: m.path, dev: m.dev, inode: m.inode };
  const size = Number(m.end - m.start);
  if (size <= 0 || size > VDSO_MAX) return { ...record, notEmbedded: 'implausible vdso size' };
  let fd: number;
  try {
    fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  } catch (e) {
    return { ...record, notEmbedded: `vdso: ${(e as Error).message}` };
  }
  try {
    const buf = Buffer.alloc(size);
    const n = fs.readSync(fd, buf, 0, size, m.start);
    return { ...record, ...embedded(imageOf(new ElfFile(new BufferSource(buf.subarray(0, n))), m.path, []), budget) };
  } catch (e) {
    return { ...record, notEmbedded: `vdso: ${(e as Error).message}` };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * The record of every module the maps text shows, read from the live process (its files are
 * opened through it, as for naming). With `embed`, each carries its reduced image; without, the
 * vdso is left out (it has no file to check).
 */
export function recordModules(pid: number, maps: string, embed: boolean): SavedModule[] {
  const roots = debugRootsOf(pid);
  const budget = embed ? { chars: 0 } : null;
  const out: SavedModule[] = [];
  for (const m of moduleMappings(maps)) {
    if (m.path === '[vdso]') {
      if (budget !== null) out.push(recordVdso(pid, m, budget));
    } else {
      out.push(recordFile(pid, m, budget, roots));
    }
  }
  return out;
}
