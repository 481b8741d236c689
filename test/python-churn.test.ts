// Python frames held against a moving heap: a python3 that creates and drops threads all the
// time (their frames, code objects and thread states come and go while stackshot reads them
// after the resume). Every snapshot succeeds; every Python name is one the program has, valid
// text (names in 1-, 2- and 4-byte string kinds included); what could not be read says why.
// Scale: STACKSHOT_RELIABILITY_FULL=1 takes the 2,000 snapshots (x5).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { snapshotSync } from '../src/snapshot';
import { EVAL_FRAME } from '../src/symbolize/resolvers/cpython';
import { PYTHON_REASONS } from '../src/runtimes/cpython/reasons';
import { assertDetached, isAlive } from './helpers/proc';
import { startTarget, stopAllTargets } from './helpers/target';

const FULL = process.env.STACKSHOT_RELIABILITY_FULL === '1';
const SNAPSHOTS = FULL ? 2000 : 400;

afterAll(stopAllTargets);

/** The script's own functions; names in three string kinds (Latin-1, BMP, astral). */
const SCRIPT_NAMES = ['<module>', 'données', '関数', '𠀋', 'worker', 'churn', 'churn.<locals>.<listcomp>'];
const WORKLOAD = `
import threading, time
def 𠀋(n):
    s = 0
    for i in range(n): s += i
    time.sleep(0.002)
def 関数(n): 𠀋(n)
def données(n): 関数(n)
def worker(n): données(n)
def churn():
    i = 0
    while True:
        ts = [threading.Thread(target=worker, args=((i + k) % 2000,)) for k in range(6)]
        for t in ts: t.start()
        for t in ts: t.join()
        i += 1
print('ready', flush=True)
churn()
`;

/** Text a name may be: no control characters, no replacement character, round-trips through UTF-8. */
function validText(s: string): boolean {
  return s !== '' && !/[\u0000-\u001f\u007f\ufffd]/.test(s) && Buffer.from(s, 'utf8').toString('utf8') === s;
}

/** pyenv's python3.<minor> (3.12 and 3.13 have the shim frames and _Py_DebugOffsets to exercise). */
function pyenvPython(minor: number): string | null {
  const root = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  try {
    const v = fs
      .readdirSync(path.join(root, 'versions'))
      .filter((d) => d.startsWith(`3.${minor}.`))
      .sort()
      .pop();
    const exe = v === undefined ? null : path.join(root, 'versions', v, 'bin', `python3.${minor}`);
    return exe !== null && fs.existsSync(exe) ? exe : null;
  } catch {
    return null;
  }
}

async function churn(exe: string, snapshots: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stackshot-pychurn-'));
  const script = path.join(dir, 'churn.py');
  fs.writeFileSync(script, WORKLOAD);
  try {
    const t = await startTarget(exe, ['-u', script]);
    const seen = new Map<string, number>();
    const reasons = new Map<string, number>();
    for (let i = 0; i < snapshots; i++) {
      const snap = snapshotSync(t.pid, { schedule: i % 2 ? 'consistent' : 'rolling' });
      for (const th of snap.threads) {
        for (const f of th.frames) {
          if (f.symbol !== null) expect(validText(f.symbol), f.symbol).toBe(true);
          if (f.file !== undefined) expect(validText(f.file), f.file).toBe(true);
          if (f.kind === 'python') {
            if (f.symbol === null) expect(PYTHON_REASONS).toContain(f.symbolReason);
            else if (f.file === script) expect(SCRIPT_NAMES).toContain(f.symbol);
            else expect(f.file, `${f.symbol} from ${f.file}`).toMatch(/\/(threading|_weakrefset)\.py$/);
            if (f.symbol !== null) seen.set(f.symbol, (seen.get(f.symbol) ?? 0) + 1);
          }
          if (f.symbol === EVAL_FRAME && f.symbolReason !== undefined) {
            expect(PYTHON_REASONS).toContain(f.symbolReason);
            reasons.set(f.symbolReason, (reasons.get(f.symbolReason) ?? 0) + 1);
          }
        }
      }
    }
    expect(isAlive(t.pid)).toBe(true);
    assertDetached(t.pid);
    // The workers' frames were read, in all three string kinds, most of the time.
    for (const name of ['données', '関数', '𠀋', 'churn']) {
      expect(seen.get(name) ?? 0, `${name} seen`).toBeGreaterThan(snapshots / 10);
    }
    const why = JSON.stringify(Object.fromEntries(reasons));
    console.log(`python churn (${exe}): ${snapshots} snapshots; eval frames with a reason: ${why}`);
    await t.stop();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('Python frames while threads come and go', () => {
  const debian = '/usr/bin/python3.11';
  const title = `${SNAPSHOTS} snapshots of a churning ${debian}: no crash, no garbage, reasons where unread`;
  it.skipIf(!fs.existsSync(debian))(title, async () => {
    await churn(debian, SNAPSHOTS);
  });
  for (const minor of [12, 13]) {
    const exe = pyenvPython(minor);
    const missing = exe === null ? ': not installed (pyenv)' : '';
    it.skipIf(exe === null)(`${SNAPSHOTS / 2} snapshots of a churning python3.${minor}${missing}`, async () => {
      await churn(exe!, SNAPSHOTS / 2);
    });
  }
});
