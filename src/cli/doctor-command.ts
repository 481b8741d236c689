// `stackshot doctor [pid]`: preflight checks (Yama, capabilities, seccomp, uid/dumpable, pid
// namespace, perf map) with what to change. Exit status 0 when nothing failed, 1 otherwise.
//
//   stackshot doctor            can snapshots work on this machine, as this user?
//   stackshot doctor 1234       ... and of pid 1234 in particular?
//   stackshot doctor 1234 --json
import type { Command } from 'commander';
import { doctor, doctorError, formatDoctor, type DoctorReport } from '../doctor';
import { parsePositiveInt } from './options';

/** Runs the checks and prints the report; throws a StackshotError (exit 1) if any failed. */
export function runDoctor(pid: number | undefined, o: { json?: boolean }, out: (s: string) => void): DoctorReport {
  const report = doctor(pid);
  out(o.json ? JSON.stringify(report, null, 2) + '\n' : formatDoctor(report));
  const err = doctorError(report);
  if (err !== null) throw err;
  return report;
}

export function registerDoctorCommand(program: Command, out: (s: string) => void): Command {
  return program
    .command('doctor')
    .description(
      'check whether snapshots can work here (and of pid): Yama, CAP_SYS_PTRACE, seccomp, uid/dumpable, pid namespace, perf map; says what to change',
    )
    .argument('[pid]', 'process to check as a target', parsePositiveInt)
    .option('--json', 'print the report as JSON (the DoctorReport type)')
    .action((pid: number | undefined, o: { json?: boolean }) => {
      runDoctor(pid, o, out);
    });
}
