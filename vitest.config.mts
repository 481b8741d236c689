import { defineConfig } from 'vitest/config';

// Tests ptrace real processes: forks keep each test file in its own process (ptrace belongs
// to an OS thread, and a crashed tracer must not take the runner with it).
export default defineConfig({
  test: {
    pool: 'forks',
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
