import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['dist/**', 'node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores: integration tests start servers and child processes; keep the fan-out modest.
    maxWorkers: 2,
    // lmdb-js leaves one internal promise unhandled when a commit fails (lmdb-js issue #368); the
    // full-disk test provokes exactly that. keel's own guard drops it in production; only that
    // error is ignored here, every other unhandled error still fails the run.
    onUnhandledError(error) {
      const e = error as { message?: string; commitError?: unknown };
      if (e.message === 'Commit failed (see commitError for details)' && e.commitError !== undefined) return false;
    },
  },
});
