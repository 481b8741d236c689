// Finds the CPython interpreter a process runs: the module (libpython, else the python
// executable) that defines _PyRuntime, its version, and the run-time addresses of _PyRuntime
// and of the type objects frames are validated against.
import * as path from 'node:path';
import * as fs from 'node:fs';
import { ElfFile, FdSource, type LoadSegment } from '../../elf/elf-file';
import { symbolValues } from '../../elf/symbol-values';
import type { MapEntry } from '../../procfs/maps';
import { openMappedFile } from '../../symbolize/mapped-file';
import {
  DEBUG_OFFSETS_SIZE,
  fixedLayout,
  hasDebugOffsets,
  isFreeThreaded,
  layoutFromDebugOffsets,
  versionText,
  type PythonLayout,
} from './layouts';
import type { TargetMemory } from './memory';
import type { PythonReason } from './reasons';

/** A module that may hold the interpreter: libpython3.X.so*, or an executable named python*. */
const LIBPYTHON = /^libpython3\.\d+[a-z]*\.so/;
const PYTHON_EXE = /^python3(\.\d+)?[a-z]*$/;
/** The version in such a file name (3.X), the last resort when Py_Version is missing. */
const NAME_VERSION = /python(3)\.(\d+)/;

/** Defined only by Py_REF_DEBUG (debug) builds, whose layouts the tables do not describe. */
const DEBUG_BUILD_SYMBOL = '_Py_NegativeRefcount';
export const RUNTIME_SYMBOLS = [
  '_PyRuntime',
  'Py_Version',
  'PyCode_Type',
  'PyUnicode_Type',
  'PyBytes_Type',
  DEBUG_BUILD_SYMBOL,
] as const;

/** Where the version was read: the Py_Version constant (3.11+), or the file name. */
export type VersionSource = 'Py_Version' | 'file-name';

export interface PythonModule {
  path: string;
  /** run-time address = link-time address + bias. */
  bias: bigint;
  version: string | null;
  versionSource: VersionSource | null;
}

export interface PythonRuntime extends PythonModule {
  layout: PythonLayout;
  runtime: bigint;
  codeType: bigint;
  unicodeType: bigint;
  bytesType: bigint;
}

export type PythonRuntimeResult =
  { ok: true; runtime: PythonRuntime } | { ok: false; reason: PythonReason; module: PythonModule | null };

/** Whether a mapped path looks like a CPython interpreter module. */
export function isInterpreterPath(p: string): boolean {
  const base = path.basename(p);
  return LIBPYTHON.test(base) || PYTHON_EXE.test(base);
}

/** The load bias of the file mapped by `entries` (its mapping at file offset 0 and first PT_LOAD). */
function loadBias(entries: readonly MapEntry[], loads: LoadSegment[]): bigint | null {
  const first = entries.find((m) => m.offset === 0n);
  const load = loads.find((l) => l.offset === 0n) ?? loads[0];
  if (first === undefined || load === undefined) return null;
  return BigInt.asUintN(64, first.start - (load.vaddr - load.offset));
}

/** PY_VERSION_HEX read from the file at Py_Version's address; null when it is not there. */
function readPyVersion(elf: ElfFile, value: bigint): number | null {
  for (const l of elf.loads) {
    if (value >= l.vaddr && value + 4n <= l.vaddr + l.filesz) {
      try {
        return elf.source.read(Number(value - l.vaddr + l.offset), 4).readUInt32LE(0);
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * The interpreter among a process's mappings, or why none can be read. `entries` are the
 * process's mappings; modules are tried libpython first (a shared build's executable has no
 * _PyRuntime of its own).
 */
export function findPythonRuntime(pid: number, entries: readonly MapEntry[], mem: TargetMemory): PythonRuntimeResult {
  const byPath = new Map<string, MapEntry[]>();
  for (const m of entries) {
    if (m.path.startsWith('/') && isInterpreterPath(m.path)) byPath.set(m.path, [...(byPath.get(m.path) ?? []), m]);
  }
  const isLib = (p: string): number => (LIBPYTHON.test(path.basename(p)) ? 1 : 0);
  const paths = [...byPath.keys()].sort((a, b) => isLib(b) - isLib(a));
  let firstFailure: PythonRuntimeResult | null = null;
  for (const p of paths) {
    const result = readModule(pid, p, byPath.get(p)!, mem);
    if (result.ok) return result;
    firstFailure ??= result;
    if (result.module !== null) return result; // it defines _PyRuntime: this is the interpreter
  }
  return firstFailure ?? { ok: false, reason: 'python-runtime-not-found', module: null };
}

function readModule(pid: number, p: string, maps: readonly MapEntry[], mem: TargetMemory): PythonRuntimeResult {
  const opened = openMappedFile(pid, maps.find((m) => m.offset === 0n) ?? maps[0]);
  if ('failure' in opened) return { ok: false, reason: 'python-runtime-not-found', module: null };
  let elf: ElfFile;
  let syms: Map<string, { value: bigint }>;
  try {
    elf = new ElfFile(new FdSource(opened.fd, opened.st.size));
    syms = symbolValues(elf, RUNTIME_SYMBOLS);
  } catch {
    fs.closeSync(opened.fd);
    return { ok: false, reason: 'python-runtime-not-found', module: null };
  }
  try {
    const runtimeSym = syms.get('_PyRuntime');
    const bias = loadBias(maps, elf.loads);
    if (runtimeSym === undefined || bias === null) {
      return { ok: false, reason: 'python-runtime-not-found', module: null };
    }
    const versionSym = syms.get('Py_Version');
    const hex = versionSym === undefined ? null : readPyVersion(elf, versionSym.value);
    const named = NAME_VERSION.exec(path.basename(p));
    const module: PythonModule = {
      path: p,
      bias,
      version: hex !== null ? versionText(hex) : named !== null ? `${named[1]}.${named[2]}` : null,
      versionSource: hex !== null ? 'Py_Version' : named !== null ? 'file-name' : null,
    };
    // Without Py_Version (before 3.11) the file name can say which version, not which layout.
    if (hex === null) {
      const reason = module.version === null ? 'python-version-unknown' : 'python-version-unsupported';
      return { ok: false, reason, module };
    }
    const at = (name: string): bigint | null => {
      const s = syms.get(name);
      return s === undefined ? null : BigInt.asUintN(64, s.value + bias);
    };
    if (syms.has(DEBUG_BUILD_SYMBOL)) return { ok: false, reason: 'python-build-unsupported', module };
    const runtime = at('_PyRuntime')!;
    let layout = fixedLayout(hex);
    if (layout === null && hasDebugOffsets(hex)) {
      const table = mem.read(runtime, DEBUG_OFFSETS_SIZE);
      if (table === null) return { ok: false, reason: 'python-runtime-unreadable', module };
      if (isFreeThreaded(table)) return { ok: false, reason: 'python-build-unsupported', module };
      layout = layoutFromDebugOffsets(table, hex);
      if (layout === null) return { ok: false, reason: 'python-runtime-unreadable', module };
    }
    if (layout === null) return { ok: false, reason: 'python-version-unsupported', module };
    const codeType = at('PyCode_Type');
    const unicodeType = at('PyUnicode_Type');
    const bytesType = at('PyBytes_Type');
    if (codeType === null || unicodeType === null || bytesType === null) {
      return { ok: false, reason: 'python-runtime-not-found', module };
    }
    return { ok: true, runtime: { ...module, layout, runtime, codeType, unicodeType, bytesType } };
  } finally {
    fs.closeSync(opened.fd);
  }
}
