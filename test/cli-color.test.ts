// The CLI colours its text output by Node's rule (the one util.styleText applies): on a
// terminal unless NO_COLOR or TERM=dumb says no, anywhere when FORCE_COLOR says so, never
// with --no-color. A terminal is a real pty, made by script(1).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { startFixture, stopAllTargets, type Target } from './helpers/target';

const CLI = path.join(__dirname, '..', 'dist', 'cli.js');
const ANSI = /\x1b\[\d+m/;
const HAVE_SCRIPT = spawnSync('sh', ['-c', 'command -v script'], { stdio: 'ignore' }).status === 0;

afterEach(async () => {
  await stopAllTargets();
});

/**
 * `stackshot <pid> [flags]` with `env` over a clean colour environment, on a pty or a pipe.
 * Clean includes no CI: Node gives a terminal no colours under CI=true (as CI runs set it)
 * unless a CI vendor it knows is named too.
 */
function run(t: Target, env: NodeJS.ProcessEnv, onPty: boolean, flags = ''): string {
  const clean: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
  for (const k of ['NO_COLOR', 'FORCE_COLOR', 'NODE_DISABLE_COLORS', 'CI', 'TEAMCITY_VERSION']) delete clean[k];
  const cmd = `"${process.execPath}" "${CLI}" ${t.pid} ${flags}`;
  const argv = onPty ? ['script', '-qec', cmd, '/dev/null'] : ['sh', '-c', cmd];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 60_000, env: { ...clean, ...env } });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/main/); // a real snapshot, whatever its colours
  return r.stdout;
}

it('on a pipe: plain, unless FORCE_COLOR; --no-color wins over FORCE_COLOR', async () => {
  const t = await startFixture('threads', 'fp', ['--workers', '1', '--worker-leaf', 'sleep']);
  expect(run(t, {}, false)).not.toMatch(ANSI);
  expect(run(t, { FORCE_COLOR: '1' }, false)).toMatch(ANSI);
  expect(run(t, { FORCE_COLOR: '0' }, false)).not.toMatch(ANSI);
  expect(run(t, { FORCE_COLOR: '1' }, false, '--no-color')).not.toMatch(ANSI);
});

it.skipIf(!HAVE_SCRIPT)('on a terminal: coloured, unless NO_COLOR, TERM=dumb or --no-color', async () => {
  const t = await startFixture('threads', 'fp', ['--workers', '1', '--worker-leaf', 'sleep']);
  expect(run(t, {}, true)).toMatch(ANSI);
  expect(run(t, { NO_COLOR: '1' }, true)).not.toMatch(ANSI);
  expect(run(t, { TERM: 'dumb' }, true)).not.toMatch(ANSI);
  expect(run(t, {}, true, '--no-color')).not.toMatch(ANSI);
});
