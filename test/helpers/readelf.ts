// binutils' readelf as the oracle for what an ELF file holds: its function symbols (every
// alias at an address), its PT_LOAD segments, its build-id and where its debug file would be.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import type { MapEntry } from '../../src/procfs/maps';

/** readelf's stdout. Its exit status is ignored: it exits 1 after complete dumps of some files. */
export function readelf(options: string | string[], file: string): string {
  const r = spawnSync('readelf', [...(typeof options === 'string' ? [options] : options), file], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.error) throw r.error;
  return r.stdout;
}

export interface ElfFunctions {
  /** name → link-time address (the first definition readelf lists). */
  addr: Map<string, bigint>;
  /** link-time address → every name defined there (all tables, versions removed). */
  names: Map<bigint, string[]>;
}

/** Function symbols of every symbol table of `file`, .symtab and .dynsym alike. */
export function readelfFunctions(file: string): ElfFunctions {
  const addr = new Map<string, bigint>();
  const names = new Map<bigint, string[]>();
  for (const line of readelf('-Ws', file).split('\n')) {
    const m = /^\s*\d+:\s+([0-9a-f]+)\s+\S+\s+(FUNC|IFUNC)\s+\w+\s+\w+\s+(\d+)\s+(\S+)/.exec(line);
    if (!m) continue;
    const value = BigInt('0x' + m[1]);
    const name = m[4].replace(/@.*$/, '');
    if (!addr.has(name)) addr.set(name, value);
    names.set(value, [...(names.get(value) ?? []), name]);
  }
  return { addr, names };
}

/** Every sized, defined function symbol of `file` (all tables, as listed): name, address, size. */
export function readelfSizedFunctions(file: string): { name: string; addr: bigint; size: number }[] {
  return readelf('-sW', file)
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c[3] === 'FUNC' && c[6] !== 'UND' && Number(c[2]) > 0)
    .map((c) => ({ name: c[7], addr: BigInt(`0x${c[1]}`), size: Number(c[2]) }));
}

/** Names of the function symbols in .dynsym only. */
export function readelfDynamicFunctionNames(file: string): Set<string> {
  const out = new Set<string>();
  for (const line of readelf(['-W', '--dyn-syms'], file).split('\n')) {
    const m = /^\s*\d+:\s+[0-9a-f]+\s+\S+\s+(FUNC|IFUNC)\s+\w+\s+\w+\s+\d+\s+(\S+)/.exec(line);
    if (m) out.add(m[2].replace(/@.*$/, ''));
  }
  return out;
}

export interface Load {
  offset: bigint;
  vaddr: bigint;
  filesz: bigint;
}

/** The PT_LOAD segments of `file`. */
export function readelfLoads(file: string): Load[] {
  const out: Load[] = [];
  for (const line of readelf('-lW', file).split('\n')) {
    const m = /^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/.exec(line);
    if (m) out.push({ offset: BigInt('0x' + m[1]), vaddr: BigInt('0x' + m[2]), filesz: BigInt('0x' + m[3]) });
  }
  return out;
}

/** The link-time address of a file offset, through the segment whose file range holds it. */
export function vaddrOfFileOffset(loads: Load[], fileOffset: bigint): bigint | undefined {
  const l = loads.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.filesz);
  return l === undefined ? undefined : fileOffset - l.offset + l.vaddr;
}

/** Where a link-time address of `file` sits in a process, from readelf's PT_LOADs and the maps. */
export function runtimeAddress(maps: readonly MapEntry[], file: string, vaddr: bigint): bigint {
  for (const l of readelfLoads(file)) {
    if (vaddr < l.vaddr || vaddr >= l.vaddr + l.filesz) continue;
    const fileOff = vaddr - l.vaddr + l.offset;
    const map = maps.find((e) => e.path === file && e.offset <= fileOff && fileOff < e.offset + (e.end - e.start));
    if (map) return map.start + fileOff - map.offset;
  }
  throw new Error(`0x${vaddr.toString(16)} of ${file} is not mapped`);
}

/** The GNU build-id of `file` as hex, or null. */
export function readelfBuildId(file: string): string | null {
  return /Build ID: ([0-9a-f]+)/.exec(readelf('-n', file))?.[1] ?? null;
}

/** The debug file of `file` under /usr/lib/debug/.build-id (whether or not it exists), or null without a build-id. */
export function buildIdDebugPath(file: string): string | null {
  const id = readelfBuildId(file);
  return id === null ? null : `/usr/lib/debug/.build-id/${id.slice(0, 2)}/${id.slice(2)}.debug`;
}

/** buildIdDebugPath(file) when that file exists. */
export function installedDebugFile(file: string): string | null {
  const p = buildIdDebugPath(file);
  return p !== null && fs.existsSync(p) ? p : null;
}

/** File offset and size of a section of `file`, from its section headers. */
export function sectionRange(file: string, name: string): { offset: number; size: number } | null {
  for (const line of readelf('-SW', file).split('\n')) {
    const m = /^\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)/.exec(line);
    if (m && m[1] === name) return { offset: parseInt(m[2], 16), size: parseInt(m[3], 16) };
  }
  return null;
}
