import { join } from 'node:path';
import type { TurnRequest } from '../../actors/turnRunner.js';
import { fixture } from './tempStore.js';

/**
 * A turn running `test/fixtures/<script>` in `dir` with generous limits (20 s timeout and
 * stall, 200 ms kill grace); override what a test is about.
 */
export function fixtureTurn(dir: string, script: string, args: readonly string[] = [], overrides: Partial<TurnRequest> = {}): TurnRequest {
  return {
    dispatchId: 'dispatch-1',
    unitId: 'unit-a',
    milestoneId: 'm1',
    workerId: 'worker-1',
    attempt: 2,
    fencingToken: 7,
    command: [process.execPath, fixture(script), ...args],
    cwd: dir,
    env: {},
    input: null,
    timeoutMs: 20_000,
    stallTimeoutMs: 20_000,
    killGraceMs: 200,
    logPath: join(dir, 'logs', 'unit-a', 'attempt-2.log'),
    ...overrides,
  };
}
