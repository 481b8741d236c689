// The native code must build warning-free for both architectures stackshot supports. There is
// no aarch64 machine here, so aarch64 is checked by cross-compiling every source file with
// Debian's aarch64-linux-gnu-g++ (CI installs it).
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { hasCompiler } from './helpers/native-build';

const run = promisify(execFile);
const root = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports -- node-addon-api has no types
const napiInclude = require('node-addon-api').include_dir as string;

/** Every source, but the other architecture's register access (ptrace and perf samples: built per arch). */
function sources(otherArch: string): string[] {
  const out: string[] = [];
  const perArch = [
    path.join(root, 'native', 'arch', otherArch, 'registers.cc'),
    path.join(root, 'native', 'capture', 'perf', otherArch, 'sample_regs.cc'),
  ];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (p.endsWith('.cc') && !perArch.includes(p)) out.push(p);
    }
  };
  walk(path.join(root, 'native'));
  return out;
}

// The host compiler builds the host's arch/ directory; the cross compilers build the other.
const TARGETS =
  process.arch === 'arm64'
    ? [
        { name: 'aarch64', compiler: 'g++', otherArch: 'x86_64' },
        { name: 'x86-64', compiler: 'x86_64-linux-gnu-g++', otherArch: 'aarch64' },
      ]
    : [
        { name: 'x86-64', compiler: 'g++', otherArch: 'aarch64' },
        { name: 'aarch64', compiler: 'aarch64-linux-gnu-g++', otherArch: 'x86_64' },
      ];

describe('the native sources compile with -Wall -Wextra -Werror', () => {
  for (const { name, compiler, otherArch } of TARGETS) {
    it.skipIf(!hasCompiler(compiler))(
      `for ${name} (${compiler})`,
      async () => {
        const files = sources(otherArch);
        expect(files.length).toBeGreaterThan(10);
        const flags = [
          '-std=c++17',
          '-fsyntax-only',
          '-Wall',
          '-Wextra',
          '-Werror',
          '-DNAPI_VERSION=8',
          '-DNODE_ADDON_API_DISABLE_DEPRECATED',
        ];
        const includes = [
          '-I',
          path.join(root, 'native'),
          '-I',
          napiInclude,
          '-I',
          path.join(path.dirname(process.execPath), '..', 'include', 'node'),
        ];
        // Two at a time: this machine has two cores.
        const failures: string[] = [];
        for (let i = 0; i < files.length; i += 2) {
          await Promise.all(
            files.slice(i, i + 2).map((f) =>
              run(compiler, [...flags, ...includes, f]).catch((e: { stderr?: string }) => {
                failures.push(`${path.relative(root, f)}:\n${e.stderr ?? String(e)}`);
              }),
            ),
          );
        }
        expect(failures).toEqual([]);
      },
      180_000,
    );
  }
});
