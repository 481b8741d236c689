// Which tools this machine has: tests that need one skip, saying which, when it is missing.
import { spawnSync } from 'node:child_process';

const found = new Map<string, boolean>();

/** Whether `cmd` is on PATH (`command -v`; the name is passed as an argument, never as code). */
export function have(cmd: string): boolean {
  let ok = found.get(cmd);
  if (ok === undefined) {
    ok = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' }).status === 0;
    found.set(cmd, ok);
  }
  return ok;
}
