#!/usr/bin/env node
// Compiles src/ into dist/ without a moment where dist/ is missing or holds a half-written file:
// tsc writes a fresh tree aside, then each file replaces its old copy by rename (atomic), and
// files no longer emitted are removed last. A CLI started during a build runs the old or the new
// code, never a MODULE_NOT_FOUND trace (`rm -rf dist && tsc` gave one).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const NEXT = path.join(ROOT, `.dist-next-${process.pid}`);

function files(dir, base = dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? files(p, base) : [path.relative(base, p)];
  });
}

/**
 * dist/cli-bundle.js: the CLI and everything it requires (but the addon) in one file, wrapped as
 * a CommonJS module, which dist/bin.js compiles with V8's code cache (see src/bin.ts). ASCII and without comments: node
 * reads an ASCII file into a string at memcpy speed (UTF-8 decoding cost a cold CLI 2 ms).
 * Without rolldown (a dev tree installed without it) there is no bundle, and bin.js loads
 * dist/cli.js.
 */
function bundleCli() {
  const cli = path.join(ROOT, 'node_modules', 'rolldown', 'bin', 'cli.mjs');
  if (!fs.existsSync(cli)) {
    console.error('build-ts: rolldown is not installed: no dist/cli-bundle.js (the CLI starts slower)');
    return;
  }
  const out = path.join(NEXT, 'cli-bundle.js');
  const args = [
    cli,
    path.join(NEXT, 'cli.js'),
    '--platform',
    'node',
    '--format',
    'cjs',
    '--charset',
    'ascii',
    '--no-comments',
    '--file',
    out,
  ];
  const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) {
    fs.rmSync(out, { force: true });
    console.error('build-ts: bundling the CLI failed: no dist/cli-bundle.js (the CLI starts slower)');
    return;
  }
  // Wrapped here as node's CommonJS loader wraps a module (its #! line gives way to the head, so
  // line numbers stay): bin.ts compiles it as it is. Wrapping it there made a second 700 KB
  // string, and one young-generation GC more before the CLI ran (1-2 ms).
  const text = lazyCommanderChildProcess(fs.readFileSync(out, 'latin1').replace(/^#!.*/, ''));
  fs.writeFileSync(out, Module.wrap(text), 'latin1');
}

/**
 * Commander requires node:child_process when it loads, for subcommands that are programs of
 * their own, which stackshot has none of: 1.2 ms of every cold CLI (it brings node:net along).
 * In the bundle, that require waits for a spawn. Should commander word it otherwise, the bundle
 * keeps it as it is, and the build says so.
 */
function lazyCommanderChildProcess(text) {
  const eager = 'const childProcess = require("node:child_process");';
  const lazy = 'const childProcess = { spawn: (...args) => require("node:child_process").spawn(...args) };';
  if (text.split(eager).length === 2) return text.replace(eager, lazy);
  console.error("build-ts: commander's require of node:child_process not found: it stays eager (+1 ms per run)");
  return text;
}

/** dist/code-cache/ (scripts/ship-code-cache.js: it runs the CLI, so dist/ must be in place). */
function shipCodeCache() {
  spawnSync(process.execPath, [path.join(__dirname, 'ship-code-cache.js')], { stdio: 'inherit' });
}

try {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'tsconfig.json'), '--outDir', NEXT], {
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
  fs.chmodSync(path.join(NEXT, 'cli.js'), 0o755);
  fs.chmodSync(path.join(NEXT, 'bin.js'), 0o755); // the package's bin
  bundleCli();
  // The entries last (the bin, whose bundle is self-contained, very last): a command started
  // mid-swap finds every module its entry requires already there.
  const ENTRIES = ['index.js', 'cli.js', 'cli-bundle.js', 'bin.js'];
  const rank = (f) => ENTRIES.indexOf(f); // -1 for every other file: first
  const fresh = files(NEXT).sort((a, b) => rank(a) - rank(b));
  for (const f of fresh) {
    const to = path.join(DIST, f);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.renameSync(path.join(NEXT, f), to);
  }
  const keep = new Set(fresh);
  for (const f of files(DIST)) if (!keep.has(f)) fs.rmSync(path.join(DIST, f));
  shipCodeCache();
} finally {
  fs.rmSync(NEXT, { recursive: true, force: true });
}
