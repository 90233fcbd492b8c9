import { join } from 'node:path';
import { killProcessGroup, readProcessStat } from '../../actors/processes.js';
import type { TurnRequest, TurnStarted } from '../../actors/turnRunner.js';
import { systemClock } from '../../core/clock.js';
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

/**
 * Test cleanup: kills what is left of a turn's process group, unless its id now belongs to a
 * process other than the recorded shim (the group had emptied and the pid was reused, by a
 * process of a test running in parallel: killing that group would kill someone else's turn).
 */
export async function killTurnGroupIfOurs(start: Pick<TurnStarted, 'pgid' | 'procStartTime'>): Promise<void> {
  const leader = readProcessStat(start.pgid);
  if (leader !== null && start.procStartTime !== null && leader.startTime !== start.procStartTime) return;
  await killProcessGroup(start.pgid, { graceMs: 0, clock: systemClock });
}
