// `npx stackshot` in a clone runs dist/cli.js directly: it must be executable. (npm links the
// bin before `prepare` rebuilds dist/, so the build itself has to set the bit.)
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, it } from 'vitest';

it('dist/cli.js is executable and starts with a node shebang', () => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  expect(fs.statSync(cli).mode & 0o111).not.toBe(0);
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
});
