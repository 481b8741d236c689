// Compiles the C test fixtures (test/fixtures/*.c) on demand, in two variants, and caches
// the binaries in os.tmpdir()/stackshot-fixtures/<hash of compiler + flags + source>/.
//
// Concurrency: several vitest workers may compile the same fixture at once. Each writes to
// its own temporary name in the cache directory and renames it into place (rename is atomic
// within a file system), so a reader sees either no binary or a complete one.

import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export type FrameVariant = 'fp' | 'nofp';

export const FRAME_VARIANTS: readonly FrameVariant[] = ['fp', 'nofp'];

/** Fixture programs shipped in test/fixtures (name = file name without `.c`). */
export const FIXTURE_NAMES = ['threads', 'exits', 'idle'] as const;

/**
 * gcc flags per variant (the source file and `-o` are appended). They live in
 * fixture-flags.json because the benchmarks (bench/) build their C targets with them too.
 */
export const VARIANT_FLAGS: Readonly<Record<FrameVariant, readonly string[]>> = JSON.parse(
  fs.readFileSync(path.join(__dirname, 'fixture-flags.json'), 'utf8'),
) as Record<FrameVariant, string[]>;

/** Flags common to both variants (warnings only; they do not change code generation). */
const COMMON_FLAGS: readonly string[] = ['-Wall', '-Wextra'];

/** Directory holding the fixture sources. */
export const FIXTURES_DIR: string = path.resolve(__dirname, '..', 'fixtures');

/** Root of the binary cache. STACKSHOT_FIXTURE_CACHE overrides os.tmpdir()/stackshot-fixtures. */
export function fixtureCacheRoot(): string {
  return process.env.STACKSHOT_FIXTURE_CACHE || path.join(os.tmpdir(), 'stackshot-fixtures');
}

/** Path of a fixture's C source; throws if there is none. */
export function fixtureSource(name: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new Error(`bad fixture name: ${JSON.stringify(name)}`);
  const src = path.join(FIXTURES_DIR, `${name}.c`);
  if (!fs.existsSync(src)) throw new Error(`no fixture source ${src}`);
  return src;
}

let compilerId: string | undefined;
function gccIdentity(): string {
  if (compilerId === undefined) {
    const version = execFileSync('gcc', ['-dumpfullversion', '-dumpversion'], { encoding: 'utf8' }).trim();
    const machine = execFileSync('gcc', ['-dumpmachine'], { encoding: 'utf8' }).trim();
    compilerId = `gcc ${version} ${machine}`;
  }
  return compilerId;
}

/** The flags a variant is compiled with, exactly as passed to gcc (before `-o`). */
export function fixtureFlags(variant: FrameVariant): string[] {
  const flags = VARIANT_FLAGS[variant];
  if (!flags) throw new Error(`bad frame variant: ${String(variant)}`);
  return [...COMMON_FLAGS, ...flags];
}

/**
 * Compile test/fixtures/<name>.c with the variant's flags and return the binary's absolute
 * path. Synchronous; cached on disk (keyed by compiler, flags, source path and text).
 * The binary is named after the fixture (`.../<hash>/threads`), so the main thread's comm is
 * the fixture name in both variants.
 */
export function compileFixture(name: string, variant: FrameVariant): string {
  const src = fixtureSource(name);
  const flags = fixtureFlags(variant);
  // -g records the source path: it is part of the key.
  return buildCached(name, [gccIdentity(), flags.join(' '), src, fs.readFileSync(src)], (tmp) => {
    const args = [...flags, '-o', tmp, src];
    try {
      execFileSync('gcc', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(
        `compiling fixture ${name} (${variant}) failed: gcc ${args.join(' ')}\n${e.stderr ?? e.message}`,
        { cause: err },
      );
    }
    // Describe the build next to the binary (debugging aid; same temp+rename dance).
    const bin = path.join(path.dirname(tmp), name);
    fs.writeFileSync(
      `${tmp}.json`,
      JSON.stringify({ name, variant, compiler: gccIdentity(), command: ['gcc', ...flags, '-o', bin, src] }, null, 2) +
        '\n',
    );
    fs.renameSync(`${tmp}.json`, `${bin}.build.json`);
  });
}

/**
 * Compile a small C program given as text (a test's own helper process) with gcc and return
 * the binary's path; cached like the fixtures, keyed by compiler, flags and source.
 */
export function compileSource(name: string, source: string, flags: readonly string[] = ['-O1']): string {
  return buildCached(name, [gccIdentity(), flags.join(' '), source], (tmp) => {
    const src = `${tmp}.c`;
    fs.writeFileSync(src, source);
    try {
      execFileSync('gcc', [...flags, '-o', tmp, src], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`compiling ${name} failed: ${e.stderr ?? e.message}`, { cause: err });
    } finally {
      fs.rmSync(src, { force: true });
    }
  });
}

/**
 * A binary named `name`, built by `build(tmpPath)` once per distinct key (compiler identity,
 * flags, source...) and cached at <cache>/<hash of key>/<name>. Concurrent builders each write
 * their own temporary file and rename it into place, so a reader sees none or a whole binary.
 */
export function buildCached(name: string, key: (string | Buffer)[], build: (tmp: string) => void): string {
  const hash = createHash('sha256');
  for (const part of key) hash.update(part).update('\0');
  const dir = path.join(fixtureCacheRoot(), hash.digest('hex').slice(0, 24));
  const bin = path.join(dir, name);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `.${name}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    build(tmp);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.renameSync(tmp, bin);
  return bin;
}

// ---------------------------------------------------------------------------------------
// What a correct unwinder must find in the `threads` fixture (and `idle`, `exits`).
//
// Frames are innermost first, one entry per PHYSICAL frame (what eu-stack prints; gdb adds
// inline frames for glibc internals and a synthesized tail-call frame in `sigframe`).
// Strings are this project's own functions and must match exactly; RegExps match glibc
// frames, whose symbol may be any of several aliases (`__nanosleep`, `__GI___nanosleep`, …).
// glibc names need glibc's .symtab (libc6-dbg, found by build-id); with .dynsym alone the
// internal ones (`__futex_abstimed_wait_common`, `__pthread_kill_implementation`) cannot be
// named. Identical in the fp and nofp variants.
// ---------------------------------------------------------------------------------------

export type FrameMatcher = string | RegExp;

const THREAD_BASE: readonly FrameMatcher[] = [/^start_thread$/, /^(__)?clone3$/];
const MAIN_BASE: readonly FrameMatcher[] = ['main', /^__libc_start_call_main$/, /^__libc_start_main/, /^_start$/];
const NANOSLEEP: readonly FrameMatcher[] = [/clock_nanosleep/, /^(__GI_)?(__)?nanosleep$/];
const FUTEX_WAIT: FrameMatcher = /futex_abstimed_wait/;

/** depth_20 … depth_01 (innermost first). */
export const SPIN_DEPTH_FRAMES: readonly string[] = Array.from(
  { length: 20 },
  (_, i) => `depth_${String(20 - i).padStart(2, '0')}`,
);

/** Expected stacks of the `threads` fixture, by thread name (comm). `main` is the main thread. */
export const EXPECTED_STACKS: Readonly<Record<string, readonly FrameMatcher[]>> = {
  spin: ['spin_leaf', ...SPIN_DEPTH_FRAMES, 'spin_thread_main', ...THREAD_BASE],
  sleeper: [...NANOSLEEP, 'leaf_sleep', 'sleeper_thread_main', ...THREAD_BASE],
  condwait: [FUTEX_WAIT, /pthread_cond_wait/, 'wait_on_cond', 'condwait_thread_main', ...THREAD_BASE],
  joiner: [FUTEX_WAIT, /pthread_clockjoin_ex|pthread_join/, 'join_other', 'joiner_thread_main', ...THREAD_BASE],
  joinee: [/pause$/, 'park_forever', 'joinee_thread_main', ...THREAD_BASE],
  epoller: [/epoll_wait$/, 'wait_epoll', 'epoll_thread_main', ...THREAD_BASE],
  reader: [/^(__GI_)?(__libc_|__)?read$/, 'read_pipe', 'reader_thread_main', ...THREAD_BASE],
  vla: [...NANOSLEEP, 'sleep_below_vla', 'vla_thread_main', ...THREAD_BASE],
  sigframe: [
    ...NANOSLEEP,
    'blocked_in_handler',
    'sigframe_handler',
    /^__restore_rt$/, // the signal trampoline (signal frame)
    /pthread_kill/, // __pthread_kill_implementation; pthread_kill reached it by a tail jump
    'raise_in_thread',
    'sigframe_thread_main',
    ...THREAD_BASE,
  ],
  main: [/sigsuspend$/, 'main_wait', ...MAIN_BASE],
};

/** Expected stack of `worker-<i>` in `threads --workers N --depth D [--worker-leaf spin|sleep]`. */
export function expectedWorkerStack(depth: number, leaf: 'spin' | 'sleep' = 'spin'): FrameMatcher[] {
  const inner: FrameMatcher[] = leaf === 'spin' ? ['worker_leaf'] : [...NANOSLEEP, 'worker_sleep'];
  return [...inner, ...Array.from({ length: depth }, () => 'recurse'), 'worker_thread_main', ...THREAD_BASE];
}

/** Expected stack of the only thread of `idle`. */
export const EXPECTED_IDLE_STACK: readonly FrameMatcher[] = [/sigsuspend$/, 'idle_wait', ...MAIN_BASE];

/** Expected stack of the `steady` thread of `exits`. */
export const EXPECTED_STEADY_STACK: readonly FrameMatcher[] = [
  ...NANOSLEEP,
  'steady_sleep',
  'steady_thread_main',
  ...THREAD_BASE,
];

/**
 * Compare function names (innermost first; `+offset`/module already stripped) with an
 * expected list. Returns null when they match, else a readable explanation.
 * With `{ prefix: true }`, `names` may continue past the expectation (e.g. an unwinder that
 * does not stop at `_start`); with `{ suffix: true }` only the outermost frames are compared.
 */
export function matchFrames(
  names: readonly string[],
  expected: readonly FrameMatcher[],
  opts: { prefix?: boolean; suffix?: boolean } = {},
): string | null {
  // RegExps (glibc frames) also get the name without an ELF version suffix (`@@GLIBC_2.34`).
  const ok = (name: string | undefined, m: FrameMatcher): boolean =>
    name !== undefined && (typeof m === 'string' ? name === m : m.test(name) || m.test(name.replace(/@.*$/, '')));
  let got = names;
  if (opts.suffix) got = names.slice(Math.max(0, names.length - expected.length));
  const lenOk = opts.prefix ? got.length >= expected.length : got.length === expected.length;
  const firstBad = expected.findIndex((m, i) => !ok(got[i], m));
  if (lenOk && firstBad < 0) return null;
  const rows: string[] = [];
  const n = Math.max(got.length, expected.length);
  for (let i = 0; i < n; i++) {
    const m = expected[i];
    const g = got[i];
    const mark = m === undefined ? (opts.prefix ? ' ' : '+') : ok(g, m) ? ' ' : '!';
    rows.push(`${mark} #${i} ${g ?? '<missing>'}${m === undefined ? '' : `   expected ${String(m)}`}`);
  }
  return `stack mismatch (${got.length} frames, expected ${expected.length}${opts.prefix ? '+' : ''}):\n${rows.join('\n')}`;
}
