import { defineConfig } from 'vitest/config';

/**
 * Test files whose checks rest on timing bounds (crash fuzzing with real SIGKILLs, hosts in PID
 * namespaces, keep-alive graces): they run one at a time after the rest of the suite, so that
 * the other files' load on this 2-core machine does not starve their processes of CPU for
 * longer than the bounds they check (docs/postgres.md, "A dead host's turns: the keep-alive").
 */
const TIMING_SENSITIVE = ['test/crashFuzz.test.ts', 'test/crashFuzzPostgres.test.ts', 'test/crashFuzzWorkspaces.test.ts', 'test/postgresHosts.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'suite', include: ['test/**/*.test.ts'], exclude: TIMING_SENSITIVE, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'timing', include: TIMING_SENSITIVE, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
