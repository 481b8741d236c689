// Other tools' stacks of a live process, parsed: eu-stack (elfutils; physical frames, names
// from .symtab/.dynsym like ours) and gdb (names from DWARF where there is debug info; inline
// frames added). Both are run without debuginfod (tests must not depend on the network) and
// without the test's LD_PRELOAD (the sanitizer runtime of the ASan runs: gdb hangs under it).
import { execFileSync } from 'node:child_process';

export interface OracleFrame {
  /** "0x…", lowercase, no leading zeros; null for a gdb frame printed without an address. */
  pc: string | null;
  /** Symbol without its ELF version (`@GLIBC_2.2.5`, `@@GLIBC_2.34`); null when the tool named none. */
  name: string | null;
}

function toolEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.DEBUGINFOD_URLS;
  delete env.LD_PRELOAD;
  return env;
}

function available(tool: string): boolean {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore', env: toolEnv(), timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

export const HAVE_EU_STACK = available('eu-stack');
export const HAVE_GDB = available('gdb');

/** `name@VERSION` / `name@@VERSION` → name: the version is linkage detail (stackshot drops it). */
export function withoutVersion(name: string): string {
  const at = name.indexOf('@');
  return at > 0 ? name.slice(0, at) : name;
}

const hexPc = (hex: string): string => `0x${BigInt(`0x${hex}`).toString(16)}`;

/** eu-stack's frames for every thread of pid: tid → frames, innermost first. */
export function euStack(pid: number): Map<number, OracleFrame[]> {
  let out: string;
  try {
    out = execFileSync('eu-stack', ['-p', String(pid)], {
      encoding: 'utf8',
      env: toolEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? ''; // eu-stack exits 1 when a thread has a partial stack
  }
  const threads = new Map<number, OracleFrame[]>();
  let current: OracleFrame[] | undefined;
  for (const line of out.split('\n')) {
    const tid = /^TID (\d+):/.exec(line);
    if (tid) threads.set(Number(tid[1]), (current = []));
    // `#3  0x00007f… name` (no name when eu-stack found no symbol)
    const frame = /^#\d+\s+0x([0-9a-f]+)(?:\s+(\S.*))?$/.exec(line);
    if (frame && current)
      current.push({
        pc: hexPc(frame[1]),
        name: frame[2] === undefined || frame[2] === '??' ? null : withoutVersion(frame[2].trim()),
      });
  }
  return threads;
}

/** Just the pcs of euStack(pid). */
export function euStackPcs(pid: number): Map<number, string[]> {
  return new Map([...euStack(pid)].map(([tid, frames]) => [tid, frames.map((f) => f.pc as string)]));
}

/**
 * gdb's `thread apply all bt` for pid: tid → frames, innermost first. `executable` is handed to
 * gdb as the program file (e.g. /proc/PID/exe for a binary deleted after it started: gdb
 * otherwise opens the gone path and names nothing).
 */
export function gdbStacks(pid: number, executable?: string): Map<number, OracleFrame[]> {
  // Past main and the entry point: by default gdb stops the backtrace at main, eu-stack does not.
  const args = [
    '-nx',
    '-batch',
    '-iex',
    'set debuginfod enabled off',
    '-ex',
    'set backtrace past-main on',
    '-ex',
    'set backtrace past-entry on',
    '-ex',
    'thread apply all bt',
  ];
  args.push(...(executable === undefined ? ['-p', String(pid)] : [executable, String(pid)]));
  let out: string;
  try {
    out = execFileSync('gdb', args, {
      encoding: 'utf8',
      env: toolEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
  } catch (e) {
    out = (e as { stdout?: string }).stdout ?? '';
  }
  const threads = new Map<number, OracleFrame[]>();
  let current: OracleFrame[] | undefined;
  for (const line of out.split('\n')) {
    // `Thread 2 (Thread 0x7f… (LWP 24070) "sleeper"):` or `Thread 2 (LWP 24070 "sleeper"):`
    const tid = /^Thread \d+ \(.*LWP (\d+)/.exec(line);
    if (tid) threads.set(Number(tid[1]), (current = []));
    // `#4  0x0000… in name (args) at file:line`, or `#0  name (args) …` for a frame gdb prints
    // without its address (an inline frame, or a pc at the start of a line). A C++ name may hold
    // spaces (`std::__invoke_impl<void, main()::<lambda()> >`): it ends at the first ` (`.
    const frame = /^#\d+\s+(?:0x([0-9a-f]+) in )?(\S.*?) \(/.exec(line);
    if (frame && current)
      current.push({
        pc: frame[1] === undefined ? null : hexPc(frame[1]),
        name: frame[2] === '??' ? null : withoutVersion(frame[2]),
      });
  }
  return threads;
}
