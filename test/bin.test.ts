// `npx stackshot` in a clone runs dist/bin.js (the package's bin) directly, and tests and the
// bench run dist/cli.js: both must be executable. (npm links the bin before `prepare` rebuilds
// dist/, so the build itself has to set the bit.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';

it.each(['bin.js', 'cli.js'])('dist/%s is executable and starts with a node shebang', (file) => {
  const cli = path.join(__dirname, '..', 'dist', file);
  expect(fs.statSync(cli).mode & 0o111).not.toBe(0);
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
});

it('package.json names dist/bin.js as the stackshot command', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  expect(pkg.bin.stackshot).toBe('dist/bin.js');
});
