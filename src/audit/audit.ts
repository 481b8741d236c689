// audit(pid | files): which modules of a process (or which files) a frame-pointer-only walker can
// get through, which need CFI, and which nothing can unwind; plus the Python / Node runtime checks.
// Reads files and /proc only: no ptrace, the target is never stopped. (For a Python process the
// interpreter binary is run once, separately; see ./runtime.ts.)
import * as fs from 'node:fs';
import { StackshotError } from '../errors';
import { parseMaps, type MapEntry } from '../procfs/maps';
import { auditModuleFile } from './module-audit';
import { auditNode, auditPython, detectRuntimes, exePath } from './runtime';
import type { AuditOptions, AuditReport, ModuleAudit, Verdict } from './types';

function summarize(modules: ModuleAudit[]): Record<Verdict, number> {
  const s: Record<Verdict, number> = { 'frame-pointer walkable': 0, 'needs CFI': 0, 'not unwindable': 0 };
  for (const m of modules) s[m.verdict]++;
  return s;
}

function noProcess(pid: number, what: string): StackshotError {
  return new StackshotError({
    code: 'ESRCH',
    syscall: 'open',
    reason: 'no-such-process',
    message: `cannot read /proc/${pid}/${what}: no such process`,
    hint: 'check the pid with `ps -p <pid>`; the process may have exited',
    pid,
  });
}

/** The executable file-backed mappings, one per file (the first mapping of each). */
export function executableModules(maps: readonly MapEntry[]): MapEntry[] {
  const seen = new Set<string>();
  const out: MapEntry[] = [];
  for (const m of maps) {
    if (m.perms[2] !== 'x' || !m.path.startsWith('/')) continue;
    const key = `${m.dev}:${m.inode}:${m.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(m);
  }
  return out;
}

function debugRootsOf(pid: number): string[] {
  try {
    // A target in another mount namespace has its debug files under its own root.
    if (fs.readlinkSync(`/proc/${pid}/root`) !== '/') return [`/proc/${pid}/root`, ''];
  } catch {
    // no access to its root: this machine's debug files only
  }
  return [''];
}

/** Audits every executable module of a running process, and its runtime. */
export async function auditProcess(pid: number, options: AuditOptions = {}): Promise<AuditReport> {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new StackshotError({
      code: 'EINVAL',
      syscall: 'open',
      reason: 'not-integer',
      message: `not a pid: ${String(pid)}`,
      hint: 'pass a process id, e.g. `stackshot audit 1234`, or ELF files',
    });
  }
  let mapsText: string;
  try {
    mapsText = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') throw noProcess(pid, 'maps');
    throw new StackshotError({
      code: code ?? 'EACCES',
      syscall: 'open',
      reason: 'unknown',
      message: `cannot read /proc/${pid}/maps: ${(e as Error).message}`,
      hint: 'run as root or as the owner of the process',
      pid,
    });
  }
  let command: string | null = null;
  try {
    command = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trimEnd();
  } catch {
    // exited meanwhile: the maps already read still count
  }
  const roots = debugRootsOf(pid);
  const mods = executableModules(parseMaps(mapsText));
  const modules = mods.map((m) => {
    // map_files is the very object mapped (even if deleted or replaced since); then the path as
    // the target sees it, then as we do. map_files names are unpadded hex.
    const candidates = [`/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`];
    if (!m.deleted) candidates.push(`/proc/${pid}/root${m.path}`, m.path);
    return auditModuleFile(m.path + (m.deleted ? ' (deleted)' : ''), candidates, roots);
  });
  const exe = exePath(pid);
  const kinds = detectRuntimes(
    exe,
    mods.map((m) => m.path),
  );
  const runtimes: AuditReport['runtimes'] = {};
  if (kinds.python !== undefined) {
    runtimes.python = await auditPython(
      pid,
      exe,
      kinds.python,
      options.runInterpreter ?? false,
      options.interpreterTimeoutMs ?? 5000,
    );
  }
  if (kinds.node !== undefined) runtimes.node = auditNode(pid);
  return { pid, command, modules, runtimes, summary: summarize(modules) };
}

/** Audits ELF files (executables, shared libraries) by path. */
export function auditFiles(files: readonly string[]): AuditReport {
  const modules = files.map((f) => auditModuleFile(f, [f], ['']));
  return { pid: null, command: null, modules, runtimes: {}, summary: summarize(modules) };
}

/**
 * audit(1234): every executable module of process 1234 (and its Python / Node runtime);
 * audit('/usr/lib/x86_64-linux-gnu/libc.so.6') or audit([...files]): those files.
 * A string of digits that is not an existing file is taken as a pid.
 */
export async function audit(
  pidOrFiles: number | string | readonly string[],
  options: AuditOptions = {},
): Promise<AuditReport> {
  if (typeof pidOrFiles === 'number') return auditProcess(pidOrFiles, options);
  if (typeof pidOrFiles === 'string') {
    if (/^\d+$/.test(pidOrFiles) && !fs.existsSync(pidOrFiles)) return auditProcess(Number(pidOrFiles), options);
    return auditFiles([pidOrFiles]);
  }
  return auditFiles(pidOrFiles);
}
