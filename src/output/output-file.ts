// Where a command writes its output (--save, record -o): a path the user gave, checked before
// any capture so a typo costs the target nothing, and reported as a path problem, never as
// an unexpected failure.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { StackshotError } from '../errors';

const WHY: Record<string, string> = {
  ENOENT: 'no such directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

/** The failure to write file (err from fs) as a StackshotError with reason 'cannot-write-output'. */
export function outputFileError(file: string, err: unknown): StackshotError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? 'EIO';
  const why = WHY[code] ?? (err instanceof Error ? err.message : String(err));
  return new StackshotError({
    code,
    syscall: 'open',
    reason: 'cannot-write-output',
    message: `cannot write ${file}: ${why}`,
    hint: 'give a path in an existing directory you can write to',
    cause: err,
  });
}

/** Throws outputFileError unless file could be created or replaced (checked before a capture). */
export function checkOutputPath(file: string): void {
  try {
    const st = fs.statSync(file, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    const dir = path.dirname(path.resolve(file));
    if (!fs.statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (err) {
    throw outputFileError(file, err);
  }
}
