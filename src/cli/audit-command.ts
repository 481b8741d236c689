// `stackshot audit <pid | file...>`: which modules a frame-pointer-only walker gets through,
// which need CFI, and which nothing can unwind (see src/audit/).
//
//   stackshot audit 1234            every executable module of process 1234, plus its runtime
//   stackshot audit /usr/bin/node   files
//   stackshot audit 1234 --json     the AuditReport as JSON
import * as fs from 'node:fs';
import { CommanderError, type Command } from 'commander';
import { audit } from '../audit/audit';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, REPORTED_FAILURE } from './exit-codes';
import { pct } from '../audit/module-audit';
import { describePythonProbe } from '../runtimes/cpython/probe';
import { FP_WALKABLE_SHARE, type AuditReport, type ModuleAudit } from '../audit/types';

export interface AuditCliOptions {
  json?: boolean;
  /** true with --interpreter: run a Python target's interpreter to read its CFLAGS (opt-in). */
  interpreter?: boolean;
}

/** Longer module paths are shortened from the left in the table (the details keep them whole). */
const PATH_WIDTH = 60;

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}
function lpad(s: string, n: number): string {
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

function symbolsCell(m: ModuleAudit): string {
  const parts: string[] = [];
  if (m.symtab !== null) parts.push(`symtab ${m.symtab}`);
  if (m.dynsym !== null) parts.push(`dynsym ${m.dynsym}`);
  if (m.debugSymtab !== null) parts.push(`debug ${m.debugSymtab}`);
  return parts.length === 0 ? 'none' : parts.join(', ');
}

function cfiCell(m: ModuleAudit): string {
  const parts: string[] = [];
  if (m.ehFrame) parts.push(m.ehFrameHdr ? 'eh_frame+hdr' : 'eh_frame');
  if (m.debugFrame) parts.push('debug_frame');
  return parts.length === 0 ? 'none' : parts.join(', ');
}

type AuditModule = AuditReport['modules'][number];

/** The summary line and the table of modules with its legend. */
function moduleTable(r: AuditReport): string[] {
  const lines: string[] = [];
  const s = r.summary;
  const counts = `${s['frame-pointer walkable']} frame-pointer walkable, ${s['needs CFI']} need CFI, ${s['not unwindable']} not unwindable`;
  if (r.pid !== null)
    lines.push(`PID ${r.pid} (${r.command ?? '?'}) — ${r.modules.length} executable modules: ${counts}`);
  else lines.push(`${r.modules.length} file${r.modules.length === 1 ? '' : 's'}: ${counts}`);
  lines.push('');
  const rows = r.modules.map((m) => {
    const fp = m.framePointers;
    return [
      m.path.length > PATH_WIDTH ? '…' + m.path.slice(m.path.length - PATH_WIDTH + 1) : m.path,
      fp === null ? '?' : pct(fp.shareByCount),
      fp === null ? '?' : pct(fp.shareByBytes),
      fp === null ? '-' : String(fp.functions),
      cfiCell(m),
      symbolsCell(m),
      m.verdict,
    ];
  });
  const head = ['module', 'fp funcs', 'fp bytes', 'functions', 'CFI', 'symbols', 'verdict'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const fmt = (row: string[]): string =>
    row
      .map((c, i) => (i >= 1 && i <= 3 ? lpad(c, widths[i]) : i === row.length - 1 ? c : pad(c, widths[i])))
      .join('  ');
  lines.push(fmt(head));
  for (const row of rows) lines.push(fmt(row));
  lines.push('');
  lines.push(
    `fp funcs / fp bytes: share of functions (by count / by code bytes) whose prologue sets up a frame pointer.`,
  );
  lines.push(
    `Verdict: >= ${pct(FP_WALKABLE_SHARE)} by count → frame-pointer walkable; else .eh_frame → needs CFI; else not unwindable.`,
  );
  return lines;
}

/** One module's details: ELF facts, frame-pointer counts, compiler flags, the verdict's reason. */
function moduleDetails(m: AuditModule): string[] {
  const lines = [`  ${m.path}`];
  if (m.error !== undefined) return [...lines, `    error: ${m.error}`];
  lines.push(`    ${m.arch} ${m.elfType}, build-id ${m.buildId ?? 'none'}, debug file ${m.debugFile ?? 'not found'}`);
  const fp = m.framePointers;
  if (fp !== null) {
    lines.push(
      `    ${fp.withFramePointer} of ${fp.functions} functions set up a frame pointer (${fp.atEntry} at entry, ${fp.later} after a preamble), ` +
        `symbols from ${fp.symbolSource}${fp.skipped > 0 ? `, ${fp.skipped} skipped` : ''}`,
    );
  }
  const c = m.compiler;
  const flag =
    c.framePointerFlag === 'on'
      ? '-fno-omit-frame-pointer'
      : c.framePointerFlag === 'off'
        ? '-fomit-frame-pointer'
        : 'no frame-pointer flag recorded';
  if (c.producer !== null)
    lines.push(`    producer: ${c.producer.length > 200 ? c.producer.slice(0, 200) + '…' : c.producer}`);
  if (c.commandLine !== null) lines.push(`    .GCC.command.line: ${c.commandLine.join(' ').slice(0, 200)}`);
  lines.push(
    `    compiler flags: ${c.producer === null && c.commandLine === null ? 'not recorded' : flag}${c.note !== undefined ? ` (${c.note})` : ''}`,
  );
  lines.push(`    → ${m.verdict}: ${m.reason}`);
  return lines;
}

/** The Python section (when the target runs CPython). */
function pythonSection(py: NonNullable<AuditReport['runtimes']['python']>): string[] {
  const lines = ['', `Python (${py.detectedBy}):`];
  const built = py.builtWithFramePointers === null ? 'unknown' : py.builtWithFramePointers ? 'yes' : 'no';
  lines.push(`  built with frame pointers: ${built}${py.cflags !== null ? ` (CFLAGS: ${py.cflags})` : ''}`);
  if (py.interpreter !== null) lines.push(`  read by running: ${py.interpreter} -I -c 'import sysconfig; ...'`);
  if (py.frames !== null) lines.push(`  ${describePythonProbe(py.frames)}`);
  lines.push(
    `  perf trampoline requested (-X perf / PYTHONPERFSUPPORT): ${py.perfTrampolineRequested ? 'yes' : 'no'}; perf map: ${py.perfMap ?? 'none'}`,
  );
  if (py.note !== undefined) lines.push(`  note: ${py.note}`);
  return lines;
}

/** The Node section (when the target runs node). */
function nodeSection(node: NonNullable<AuditReport['runtimes']['node']>): string[] {
  const lines = ['', 'Node:'];
  lines.push(
    `  perf map flags: ${node.perfFlags.length > 0 ? node.perfFlags.join(' ') : 'none'}; --interpreted-frames-native-stack: ${node.interpretedFramesNativeStack ? 'yes' : 'no'}`,
  );
  lines.push(`  perf map: ${node.perfMap ?? 'none'}`);
  const v8 = node.v8;
  const readable = `named without flags (V8 ${v8.version}, metadata in ${v8.module})`;
  lines.push(`  V8 frames: ${v8.readable ? readable : `not readable: ${v8.reason}`}`);
  if (node.note !== undefined) lines.push(`  note: ${node.note}`);
  return lines;
}

/** The report as a table for people, then per-module details and the runtime checks. */
export function formatAuditText(r: AuditReport): string {
  const lines = [...moduleTable(r), '', 'Details:', ...r.modules.flatMap(moduleDetails)];
  if (r.runtimes.python !== undefined) lines.push(...pythonSection(r.runtimes.python));
  if (r.runtimes.node !== undefined) lines.push(...nodeSection(r.runtimes.node));
  return lines.join('\n') + '\n';
}

/**
 * Runs `stackshot audit <targets...>` and writes the result with `out`. One argument of digits
 * that is not an existing file is a pid; anything else is a list of files. Returns the exit
 * code (0; 2 for a usage error, reported on stderr). Other failures throw (StackshotError for
 * a missing process), for the CLI's usual error report.
 */
export async function runAudit(
  targets: string[],
  opts: AuditCliOptions = {},
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  const usage = auditUsageError(targets);
  if (usage !== null) {
    err(`stackshot: ${usage}\nhint: see \`stackshot audit --help\`\n`);
    return EXIT_USAGE;
  }
  const auditOpts = { runInterpreter: opts.interpreter === true };
  const report =
    targets.length === 1 && isPid(targets[0])
      ? await audit(Number(targets[0]), auditOpts)
      : await audit(targets, auditOpts);
  out(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatAuditText(report));
  // Files named on the command line that could not be audited fail the command (a process's
  // own modules may be unreadable for ordinary reasons and are reported in the table only).
  if (report.pid !== null) return EXIT_OK;
  const failed = report.modules.filter((m) => m.error !== undefined);
  for (const m of failed) err(`stackshot: cannot audit ${m.path}: ${m.error}\n`);
  return failed.length > 0 ? EXIT_FAILURE : EXIT_OK;
}

function isPid(t: string): boolean {
  return /^\d+$/.test(t) && !fs.existsSync(t);
}

/** What is wrong with the targets, or null. */
export function auditUsageError(targets: string[]): string | null {
  if (targets.length === 0) return 'audit needs a pid or one or more ELF files';
  if (targets.length > 1 && targets.some(isPid)) return 'audit takes one pid, or files, not both';
  return null;
}

/** Adds `audit` to the program (the same pattern as registerRecordCommand). */
export function registerAuditCommand(program: Command, out: (s: string) => void): void {
  program
    .command('audit')
    .description(
      'which modules of a process (or which ELF files) a frame-pointer walker gets through, which need CFI, and why',
    )
    .argument('<targets...>', 'a pid, or ELF files')
    .option('--json', 'print the AuditReport as JSON')
    .option(
      '--interpreter',
      'for a Python process, run its interpreter (python -I) to read sysconfig CFLAGS; as root, only a root-owned one',
    )
    .action(async (targets: string[], o: AuditCliOptions) => {
      const code = await runAudit(targets, o, out, (s) => process.stderr.write(s.replace(/^hint:.*\n/m, '')));
      // A usage error: the CLI's main() prints the hint and exits with 2. A file that could not
      // be audited was reported already: exit 1.
      if (code === EXIT_USAGE) throw new CommanderError(code, 'stackshot.audit', 'usage');
      if (code !== EXIT_OK) throw new CommanderError(code, REPORTED_FAILURE, 'reported');
    });
}
