import { defineConfig } from 'vitest/config';

// One GPU device per worker is plenty on a 2-core lavapipe machine; more workers just fight
// lavapipe's own thread pool, so the GPU suites run in a single fork.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    env: { XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' },
  },
});
