// Running the tools compared in the bench (eu-stack, gdb, the stackshot CLI, a fresh-process
// stackshot for cold symbolization) and reading their stacks back: frames per thread and
// whether each stack reaches the thread's real entry.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
// The package's bin, run by its shebang as npm's bin link runs it (the bundle, code-cached).
const BIN = path.join(ROOT, 'bin', 'stackshot.js');
const COLD = path.join(__dirname, 'cold.js');
// Names of a thread's real entry, as each tool prints them.
const ENTRY = /^(_start|start_thread|clone3?|__clone3?|__GI___clone3?|thread_start)$/;
const TOOL_ENV = { ...process.env, DEBUGINFOD_URLS: '', LC_ALL: 'C' };

/**
 * A stack is complete (by names) when one of its two outermost frames is a thread entry. gdb
 * stops the main thread's backtrace at `main` by default (`set backtrace past-main off`), so
 * for gdb (stopsAtMain) a main thread that reaches `main` counts as complete.
 */
function completeByNames(names, stopsAtMain = false) {
  const outer = names.slice(-2);
  return outer.some((n) => n !== null && (ENTRY.test(n) || (stopsAtMain && n === 'main')));
}

/** eu-stack output: `TID n:` then `#k  0xADDR name` lines. */
function parseEuStack(text) {
  const threads = new Map();
  let cur = null;
  for (const line of text.split('\n')) {
    let m = /^TID (\d+):/.exec(line);
    if (m) {
      cur = [];
      threads.set(Number(m[1]), cur);
      continue;
    }
    m = /^#(\d+)\s+0x[0-9a-f]+\s*(\S*)/.exec(line);
    if (m && cur) cur.push(m[2] === '' ? null : m[2].replace(/@.*$/, ''));
  }
  return threads;
}

/** gdb `thread apply all bt`: `Thread N (Thread 0x… (LWP tid) "name"):` then `#k  0x… in f (…)` or `#k  f (…)`. */
function parseGdb(text) {
  const threads = new Map();
  let cur = null;
  for (const line of text.split('\n')) {
    let m = /^Thread \d+ \(.*?LWP (\d+)/.exec(line);
    if (m) {
      cur = [];
      threads.set(Number(m[1]), cur);
      continue;
    }
    m = /^#(\d+)\s+(?:0x[0-9a-f]+ in )?(\S+)/.exec(line);
    if (m && cur) cur.push(m[2] === '??' ? null : m[2]);
  }
  return threads;
}

function run(cmd, args, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 << 20, env: TOOL_ENV, ...opts });
  const wallNs = Number(process.hrtime.bigint() - t0);
  return { wallNs, status: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

/** `eu-stack -p pid` (with -n when deeper stacks than its default of 256 frames are expected). */
function euStack(pid, maxFrames) {
  const args = maxFrames ? ['-n', String(maxFrames), '-p', String(pid)] : ['-p', String(pid)];
  const r = run('eu-stack', args);
  return { ...r, threads: parseEuStack(r.stdout), ok: r.stdout.includes('TID ') };
}

/** `gdb -batch -ex 'thread apply all bt' -p pid` (-nx: no init files; debuginfod off: no network). */
function gdb(pid, timeoutMs = 60_000) {
  const r = run(
    'gdb',
    ['-batch', '-nx', '-ex', 'set debuginfod enabled off', '-ex', 'thread apply all bt', '-p', String(pid)],
    { timeout: Math.round(timeoutMs), killSignal: 'SIGKILL' },
  );
  if (r.signal) r.stderr += `\ngdb killed after ${timeoutMs} ms`;
  return { ...r, threads: parseGdb(r.stdout), ok: !r.signal && /^Thread \d+ /m.test(r.stdout) };
}

let devNull;
/** `stackshot <pid> --json > /dev/null`; retried if the addon is being rebuilt. */
function stackshotCli(pid, extra = []) {
  devNull ??= fs.openSync('/dev/null', 'w');
  for (let attempt = 0; ; attempt++) {
    const r = run(BIN, [String(pid), '--json', ...extra], { stdio: ['ignore', devNull, 'pipe'] });
    if (r.status === 0 || attempt >= 3) return { ...r, ok: r.status === 0 };
    spawnSync('sleep', ['3']);
  }
}

/** The environment for a persistent module cache mode: undefined (as set), 'off', or a directory. */
function cacheEnv(cache) {
  if (cache === undefined) return TOOL_ENV;
  if (cache === 'off') return { ...TOOL_ENV, STACKSHOT_CACHE: 'off' };
  const env = { ...TOOL_ENV, STACKSHOT_CACHE_DIR: cache };
  delete env.STACKSHOT_CACHE;
  return env;
}

/**
 * A fresh node process that requires dist/ and takes ONE snapshot: cold caches. `cache`: the
 * persistent module cache (see cacheEnv); `naming`: also stackshot bench's cold naming figures.
 */
function stackshotCold(pid, schedule = 'rolling', { cache, naming = false } = {}) {
  for (let attempt = 0; ; attempt++) {
    const r = run(process.execPath, [COLD, String(pid), schedule, ...(naming ? ['--naming'] : [])], {
      env: cacheEnv(cache),
    });
    if (r.status === 0) {
      try {
        return { ...r, ok: true, result: JSON.parse(r.stdout) };
      } catch {
        /* fall through */
      }
    }
    if (attempt >= 3) return { ...r, ok: false };
    spawnSync('sleep', ['3']);
  }
}

/**
 * `perf record -F hz --call-graph dwarf -p pid -- sleep s` into a temporary file (removed): the
 * kernel-side stack-copy profiler, for its cost to the same target. Samples from its summary line.
 */
function perfRecord(pid, hz, ms) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-bench-perf-'));
  try {
    const r = run('perf', [
      'record',
      '-F',
      String(hz),
      '--call-graph',
      'dwarf',
      '-p',
      String(pid),
      '-o',
      path.join(dir, 'perf.data'),
      '--',
      'sleep',
      String(ms / 1000),
    ]);
    const m = /\((\d+) samples\)/.exec(r.stderr);
    let samples = m ? Number(m[1]) : NaN;
    if (!m && r.status === 0) {
      const rep = run('perf', ['report', '-i', path.join(dir, 'perf.data'), '--stdio', '--header-only']);
      const n = /# (?:sample|samples)[^\d]*(\d+)/i.exec(rep.stdout) ?? /nr_samples[^\d]*(\d+)/i.exec(rep.stdout);
      samples = n ? Number(n[1]) : NaN;
    }
    return { ...r, ok: r.status === 0, samples };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether `perf` runs here (Debian: the linux-perf package). */
function havePerf() {
  const r = spawnSync('perf', ['--version'], { encoding: 'utf8' });
  return r.status === 0;
}

function toolVersion(cmd) {
  const r = spawnSync(cmd, ['--version'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n')[0].trim() || 'unavailable';
}

module.exports = {
  BIN,
  cacheEnv,
  euStack,
  gdb,
  perfRecord,
  havePerf,
  stackshotCli,
  stackshotCold,
  completeByNames,
  toolVersion,
  parseEuStack,
  parseGdb,
};
