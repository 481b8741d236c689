// The `stackshot` command is bin/stackshot.js, run by its shebang as npm's bin link runs it: sh
// starts node on it without NODE_EXTRA_CA_CERTS, which the JavaScript puts back. dist/bin.js and
// dist/cli.js stay executable too (`npx stackshot` before the launcher existed, tests, bench);
// npm links bins before `prepare` rebuilds dist/, so the build itself has to set their bit.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.join(__dirname, '..');
const LAUNCHER = path.join(ROOT, 'bin', 'stackshot.js');

it.each(['bin.js', 'cli.js'])('dist/%s is executable and starts with a node shebang', (file) => {
  const cli = path.join(ROOT, 'dist', file);
  expect(fs.statSync(cli).mode & 0o111).not.toBe(0);
  expect(fs.readFileSync(cli, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
});

it('package.json names bin/stackshot.js as the stackshot command, and it is executable', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    bin: Record<string, string>;
  };
  expect(pkg.bin.stackshot).toBe('bin/stackshot.js');
  expect(fs.statSync(LAUNCHER).mode & 0o111).not.toBe(0);
  expect(fs.readFileSync(LAUNCHER, 'utf8').startsWith('#!/bin/sh\n')).toBe(true);
});

describe('the launcher and NODE_EXTRA_CA_CERTS', () => {
  let dir: string;
  let preload: string;
  let link: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-launcher-'));
    // Runs inside the CLI's node before the launcher's JavaScript, and again at its exit.
    preload = path.join(dir, 'env-probe.js');
    fs.writeFileSync(
      preload,
      `const at = (when) => process.stderr.write('probe ' + when + ' ' + JSON.stringify({
  extra: process.env.NODE_EXTRA_CA_CERTS ?? null, saved: process.env.STACKSHOT_NODE_EXTRA_CA_CERTS ?? null }) + '\\n');
at('start'); process.on('exit', () => at('exit'));\n`,
    );
    // npm's bin link: a symlink in another directory.
    link = path.join(dir, 'stackshot');
    fs.symlinkSync(LAUNCHER, link);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function run(extra: string | undefined) {
    const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--require ${preload}` };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.STACKSHOT_NODE_EXTRA_CA_CERTS;
    if (extra !== undefined) env.NODE_EXTRA_CA_CERTS = extra;
    const r = spawnSync(link, ['--version'], { encoding: 'utf8', env, timeout: 60_000 });
    const probe = (when: string) => {
      const line = r.stderr.split('\n').find((l) => l.startsWith(`probe ${when} `));
      return line === undefined ? undefined : (JSON.parse(line.slice(`probe ${when} `.length)) as object);
    };
    return { r, start: probe('start'), exit: probe('exit') };
  }

  it('node starts without it, and the program sees it unchanged afterwards', () => {
    // A file that does not exist: node would warn at start-up ("Ignoring extra certs") had it got it.
    const missing = path.join(dir, 'no-such-bundle.pem');
    const { r, start, exit } = run(missing);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    expect(r.stderr).not.toMatch(/extra certs/i);
    expect(start).toEqual({ extra: null, saved: missing });
    expect(exit).toEqual({ extra: missing, saved: null });
  });

  it('without it, sets nothing', () => {
    const { r, start, exit } = run(undefined);
    expect(r.status, r.stderr).toBe(0);
    expect(start).toEqual({ extra: null, saved: null });
    expect(exit).toEqual({ extra: null, saved: null });
  });

  it('an empty value is kept as empty', () => {
    const { r, exit } = run('');
    expect(r.status, r.stderr).toBe(0);
    expect(exit).toEqual({ extra: '', saved: null });
  });
});
