// The subcommands that live in modules of their own (record, audit, doctor, bench), loaded only when
// the command line may name one: a plain `stackshot <pid>` never loads them (a cold CLI spends
// a large share of its time in `require`).
import type { Command } from 'commander';

type Register = (program: Command, out: (s: string) => void) => unknown;

/* eslint-disable @typescript-eslint/no-require-imports */
/** Each subcommand's registrar, required on demand. */
const REGISTRARS: readonly (() => Register)[] = [
  () => (require('./record-command') as typeof import('./record-command')).registerRecordCommand,
  () => (require('./audit-command') as typeof import('./audit-command')).registerAuditCommand,
  () => (require('./doctor-command') as typeof import('./doctor-command')).registerDoctorCommand,
  () => (require('./bench-command') as typeof import('./bench-command')).registerBenchCommand,
];
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * Whether `argv` (process.argv shape) is a snapshot of a pid that needs no subcommand: its first
 * operand is a number and no help is asked for. Anything else (a subcommand, help, a typo,
 * an option value before the pid) gets every subcommand, so commander parses and helps as ever.
 */
export function isPlainSnapshot(argv: readonly string[]): boolean {
  const args = argv.slice(2);
  if (args.some((a) => a === '-h' || a === '--help')) return false;
  const first = args.find((a) => !a.startsWith('-'));
  return first !== undefined && /^\d+$/.test(first);
}

/** Registers every subcommand module's commands on `program`. */
export function registerSubcommands(program: Command, out: (s: string) => void): void {
  for (const registrar of REGISTRARS) registrar()(program, out);
}
