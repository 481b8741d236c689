#!/usr/bin/env node
// The `stackshot` command's entry: a cold CLI spends more of its time loading its modules than
// taking the snapshot. The build bundles dist/cli.js into one file (dist/cli-bundle.js: no
// per-module path resolution), and this entry compiles it with V8's code cache: the user's, in
// the module cache directory, else the one the build shipped. Node 20 has no
// module.enableCompileCache. Without the bundle (a tree built by tsc alone) it loads dist/cli.js.
// A code cache V8 rejects (another node, other flags, a damaged file) is compiled anew and the
// user's replaced.
import { isAscii } from 'node:buffer';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Module } from 'node:module';
import type * as Zlib from 'node:zlib';
import { builtAddon } from './addon-file';
import { cacheDir } from './cache/cache-dir';
import { entryName, readEntry, writeEntry } from './cache/cache-file';
import type * as Cli from './cli';

const BUNDLE = path.join(__dirname, 'cli-bundle.js');
/**
 * The code cache the build leaves next to the bundle (scripts/build-ts.js runs `stackshot demo`
 * once to fill it), under the same entry name as in the user's cache: a first run, with the
 * user's cache still empty, then skips compiling too (33 ms of a cold CLI on a node process).
 */
const SHIPPED = path.join(__dirname, 'code-cache');

// V8 checks a code cache's version and flags but, in release builds, not that its payload is
// intact: each entry carries its own CRC-32, and one that does not match is never handed to V8.
const SEAL_BYTES = 4;

/**
 * zlib's CRC-32, for the seal: the addon's, where a source build leaves it (src/addon-file.ts),
 * else node:zlib's. node:zlib costs a cold CLI 1.3 ms to load; the addon is loaded anyway.
 */
function crc32(): (data: Uint8Array) => number {
  try {
    const built = builtAddon() as { crc32?: (data: Uint8Array) => number } | undefined;
    if (typeof built?.crc32 === 'function') return built.crc32;
  } catch {
    // it fails to load: the bundle will say so, through node-gyp-build
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('node:zlib') as typeof Zlib).crc32;
}

function seal(data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SEAL_BYTES);
  out.writeUInt32BE(crc32()(data));
  return out;
}

function unsealed(entry: Buffer | null): Buffer | undefined {
  if (entry === null || entry.length <= SEAL_BYTES) return undefined;
  const data = entry.subarray(SEAL_BYTES);
  return seal(data).equals(entry.subarray(0, SEAL_BYTES)) ? data : undefined;
}

/**
 * The bundle's text: a CommonJS module already wrapped in its function (scripts/build-ts.js).
 * The build writes it in ASCII (non-ASCII characters escaped), which node turns into a string at
 * memcpy speed: decoding 800 KB as UTF-8 took 2 ms.
 */
const sourceText = (bytes: Buffer): string => (isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8'));

/** The bundle's exports, compiled with the code cache when there is one; null without a bundle. */
function loadBundle(): typeof Cli | null {
  let source: string;
  let st: fs.Stats;
  try {
    st = fs.statSync(BUNDLE);
    source = sourceText(fs.readFileSync(BUNDLE));
  } catch {
    return null;
  }
  // The code cache is only good for this very bundle on this very node.
  const dir = process.argv.includes('--no-cache') ? null : cacheDir();
  const name = entryName(
    'code',
    `${process.version} ${process.arch} ${BUNDLE} ${st.size} ${st.mtimeMs} ${st.ino} ${process.execArgv.join(' ')}`,
  );
  const cachedData = dir === null ? undefined : (unsealed(readEntry(dir, name)) ?? unsealed(readEntry(SHIPPED, name)));
  const script = new vm.Script(source, { filename: BUNDLE, cachedData });
  const mod = new Module(BUNDLE, module);
  mod.filename = BUNDLE;
  mod.paths = (Module as unknown as { _nodeModulePaths(dir: string): string[] })._nodeModulePaths(__dirname);
  const req = Object.assign((id: string) => mod.require(id), { main: undefined, cache: require.cache });
  (script.runInThisContext() as (...args: unknown[]) => void).call(
    mod.exports,
    mod.exports,
    req,
    mod,
    BUNDLE,
    __dirname,
  );
  if (dir !== null && (cachedData === undefined || script.cachedDataRejected === true)) {
    // After the run: the cache then holds the functions this command compiled, not just the top level.
    process.once('exit', () => {
      const data = script.createCachedData();
      writeEntry(dir, name, [seal(data), data]);
    });
  }
  return mod.exports as typeof Cli;
}

// eslint-disable-next-line @typescript-eslint/no-require-imports
(loadBundle() ?? (require('./cli') as typeof Cli)).runCommand();
