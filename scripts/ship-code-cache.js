#!/usr/bin/env node
// dist/code-cache/: V8's code cache for the bundle, shipped with the build (scripts/build-ts.js
// runs this after swapping dist/ in). bin.ts reads it when the user's cache has none, and a run
// that used it writes none: the functions it holds are the ones every later run finds compiled.
// So they are those of the run that matters most, a plain `stackshot <pid>` with the module
// cache filled (text output, naming native and JavaScript frames): the demo workload is
// snapshotted twice with a cache directory of our own, the first run filling the module cache,
// the second writing the code entry that is kept. (One `stackshot demo`, as before, held the
// functions of an empty module cache and of the asynchronous capture: every plain run then
// compiled its own path again, 2-3 ms.) Its entry name holds the bundle's path, size, mtime and
// inode, node's version and flags: it never serves another build. Without ptrace rights the
// runs fail, and there is none (a first run then compiles).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const SHIPPED = path.join(DIST, 'code-cache');

function say(why) {
  console.error(`build-ts: no shipped code cache (${why}): a first run compiles the CLI`);
}

async function main() {
  fs.rmSync(SHIPPED, { recursive: true, force: true });
  if (!fs.existsSync(path.join(DIST, 'cli-bundle.js'))) return;
  const { withDemo } = require(path.join(DIST, 'demo', 'run-demo.js'));
  const scratch = fs.mkdtempSync(path.join(ROOT, '.code-cache-'));
  const env = { ...process.env, STACKSHOT_CACHE_DIR: scratch, DEBUGINFOD_URLS: '' };
  delete env.STACKSHOT_CACHE;
  delete env.NODE_OPTIONS; // flags there would key the cache to them
  const codeEntries = () => fs.readdirSync(scratch).filter((f) => f.startsWith('code-'));
  try {
    await withDemo(async (demo) => {
      for (const run of ['fills the module cache', 'writes the code entry']) {
        for (const f of codeEntries()) fs.rmSync(path.join(scratch, f));
        // The command itself, by its shebang: the entry is keyed by the node flags it starts with.
        const r = spawnSync(path.join(ROOT, 'bin', 'stackshot.js'), [String(demo.pid)], {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
          encoding: 'utf8',
          timeout: 60_000,
        });
        if (r.status !== 0) {
          const why = (r.stderr ?? '').trim().split('\n')[0] || `status ${r.status ?? r.signal}`;
          throw new Error(`\`stackshot <demo pid>\` that ${run}: ${why}`);
        }
      }
    });
    const entries = codeEntries();
    if (entries.length !== 1) throw new Error(`${entries.length} code entries written`);
    fs.mkdirSync(SHIPPED);
    fs.renameSync(path.join(scratch, entries[0]), path.join(SHIPPED, entries[0]));
  } catch (e) {
    say(e.message);
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
}

void main();
