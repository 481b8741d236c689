import * as os from 'node:os';
import * as path from 'node:path';
import { defineConfig } from 'vitest/config';

// The persistent module cache of every snapshot the tests take (in the test processes and in
// the CLIs they start) goes to a scratch directory, never the user's ~/.cache/stackshot.
process.env.STACKSHOT_CACHE_DIR ??= path.join(os.tmpdir(), `stackshot-test-cache-${os.userInfo().uid}`);

// Tests ptrace real processes: forks keep each test file in its own process (ptrace belongs
// to an OS thread, and a crashed tracer must not take the runner with it).
const shared = {
  pool: 'forks' as const,
  testTimeout: 60_000,
  hookTimeout: 60_000,
  maxWorkers: 2,
};

// One invocation, two groups: the sampling tests of record run after everything else and
// alone (they count samples per second), and a failure in the first group no longer keeps
// them from running.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: ['test/record.test.ts'],
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: 'record',
          include: ['test/record.test.ts'],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
