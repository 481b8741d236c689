// Sanitizer build: the native-heavy tests (live captures under churn and signals,
// crafted stacks and mutated CFI tables through the unwinder, offline captures) run again
// against the addon built with -fsanitize=address,undefined (scripts/build-asan.sh), with the
// ASan runtime preloaded into node. Opt-in, because the build alone takes ~35 s on 2 cores and
// the sanitized run ~2-3 min: STACKSHOT_ASAN=1 npx vitest run test/reliability-asan.test.ts
// (or scripts/build-asan.sh --test directly).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const ENABLED = process.env.STACKSHOT_ASAN === '1' && process.env.STACKSHOT_ASAN_BUILD !== '1';

it.runIf(ENABLED)(
  'native-heavy tests pass under AddressSanitizer and UBSan with no report (with STACKSHOT_ASAN=1, as .ci/run sets)',
  () => {
    const script = path.resolve(__dirname, '..', 'scripts', 'build-asan.sh');
    const r = spawnSync('sh', [script, '--test'], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const out = `${r.stdout}\n${r.stderr}`;
    expect(out).not.toMatch(/ERROR: AddressSanitizer|runtime error:|SUMMARY: (Address|UndefinedBehavior)Sanitizer/);
    expect(r.status, out.slice(-4000)).toBe(0);
  },
  900_000,
);
