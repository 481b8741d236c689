// Whether a process runs V8 whose frames stackshot can read: the module (node, or libnode)
// that carries the post-mortem metadata, its layout (cached per file), and one frame reader
// per process (its caches belong to that process's heap).
import * as fs from 'node:fs';
import { ElfFile, FdSource } from '../../elf/elf-file';
import { parseMaps, type MapEntry } from '../../procfs/maps';
import { parseProcStat } from '../../procfs/preflight';
import { openMappedFile } from '../../symbolize/mapped-file';
import { V8FrameReader } from './frames';
import { V8Heap, type ReadMemory } from './heap';
import { v8Layout, type V8Support } from './metadata';
import { cachedV8Symbols } from '../../cache/v8-metadata-cache';

export interface V8Runtime {
  /** The mapped file that carries the metadata (its path as the maps show it). */
  module: string;
  support: V8Support;
}

/** Layouts by file identity: reading the metadata reads node's dynamic symbol table (~10 ms). */
const layouts = new Map<string, V8Support>();
/** Frame readers by process (pid and start time). */
const readers = new Map<string, V8FrameReader>();
const MAX_READERS = 64;

/** Files that may carry V8: the executable and any libnode. */
function candidates(pid: number, maps: readonly MapEntry[]): MapEntry[] {
  let exe = '';
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    // no access to the link: libnode and paths that look like node still count
  }
  const seen = new Set<string>();
  const out: MapEntry[] = [];
  for (const m of maps) {
    if (m.path === '' || seen.has(m.path)) continue;
    const base = m.path.slice(m.path.lastIndexOf('/') + 1);
    if (m.path === exe || /^libnode\.so/.test(base) || /^node\d*$/.test(base)) {
      seen.add(m.path);
      out.push(m);
    }
  }
  return out;
}

/** The last answer per process, while its maps read the same (a warm snapshot opens no file). */
const lastFound = new Map<number, { maps: string; runtime: V8Runtime | undefined }>();

/** findV8 for the maps text a capture read, remembered per process while the maps stay the same. */
export function findV8InMaps(pid: number, mapsText: string): V8Runtime | undefined {
  const last = lastFound.get(pid);
  if (last !== undefined && last.maps === mapsText) return last.runtime;
  const runtime = findV8(pid, parseMaps(mapsText));
  if (lastFound.size >= MAX_READERS) lastFound.clear();
  lastFound.set(pid, { maps: mapsText, runtime });
  return runtime;
}

/** The V8 in process pid, if one of its files carries V8 metadata; undefined when none does. */
export function findV8(pid: number, maps: readonly MapEntry[]): V8Runtime | undefined {
  let unsupported: V8Runtime | undefined;
  for (const m of candidates(pid, maps)) {
    const opened = openMappedFile(pid, m);
    if ('failure' in opened) continue;
    try {
      const { st } = opened;
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      let support = layouts.get(key);
      if (support === undefined) {
        try {
          const tables = new Map<string, Buffer>();
          support = v8Layout(cachedV8Symbols(new ElfFile(new FdSource(opened.fd, st.size)), tables), tables);
        } catch (e) {
          support = { supported: false, reason: `unreadable: ${(e as Error).message}` };
        }
        layouts.set(key, support);
      }
      if (support.supported) return { module: m.path, support };
      if (!support.reason.startsWith('no V8')) unsupported ??= { module: m.path, support };
    } finally {
      fs.closeSync(opened.fd);
    }
  }
  return unsupported;
}

/**
 * The frame reader for this process, reading through readMemory (its map-type and script caches
 * survive between snapshots).
 */
export function v8FrameReader(pid: number, runtime: V8Runtime, readMemory: ReadMemory): V8FrameReader | undefined {
  if (!runtime.support.supported) return undefined;
  let start: string;
  try {
    start = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8')).startTime;
  } catch {
    return undefined; // the process is gone
  }
  const key = `${pid}:${start}:${runtime.module}`;
  let reader = readers.get(key);
  if (reader === undefined) {
    if (readers.size >= MAX_READERS) readers.clear();
    reader = new V8FrameReader(new V8Heap(runtime.support.layout, readMemory));
    readers.set(key, reader);
  }
  reader.heap.use(readMemory);
  return reader;
}
