import fs from 'node:fs';
import { fromCallback, fromPromise } from 'xstate';
import type { TurnAssignment, TurnResult, TurnStarted } from '../machines/turn.js';
import type { StopTurnInput, StopTurnOutput, WorkerEvent } from '../machines/worker.js';
import { ensureError } from '../src/errors.js';
import type { EffectContext } from './effectContext.js';
import { findProcessesByEnv, isProcessAlive, killProcesses, killProcessGroup, listProcessGroup } from './processes.js';
import { runTurn } from './turnRunner.js';

/**
 * The worker statechart's effects: the turn runner (child processes), process-group kill
 * with verification, and the log folder. `runTurn` is idempotent across restores: a turn
 * whose start was recorded is never spawned again; its orphans are killed and verified
 * gone, and the turn is reported `lost`.
 */
export function createWorkerEffects(effects: EffectContext) {
  return {
    prepareWorker: fromPromise<void, { workerId: string }>(async () => {
      await Promise.resolve();
      fs.mkdirSync(effects.logsDir, { recursive: true });
    }),
    runTurn: fromCallback<WorkerEvent, TurnAssignment>(({ input, sendBack }) => {
      // Stopping this callback (the worker left `in_turn`, or the runtime detached) does not
      // kill the turn: `stopTurn` kills and verifies on an operator stop, and a detached
      // runtime's turn belongs to whoever restores the worker. Results are then dropped.
      let detached = false;
      const run = async (): Promise<TurnResult> => {
        await Promise.resolve();
        // Stopped before the first await (its transition could not be persisted): do nothing.
        if (detached) return lostResult(effects.clock.now(), 'the worker was stopped before the turn started');
        const recorded = effects.recordedStart(input.workerId, input.dispatchId);
        if (recorded !== null) return reclaimOrphan(effects, input, recorded);
        const orphans = findProcessesByEnv('STATECREW_DISPATCH_ID', input.dispatchId);
        if (orphans.length > 0) {
          await killProcesses(orphans, { graceMs: input.killGraceMs, clock: effects.clock });
          return lostResult(effects.clock.now(), `unrecorded processes ${orphans.join(', ')} of this turn were killed`);
        }
        const outcome = await runTurn(
          input,
          {
            clock: effects.clock,
            onStart: (start) => sendBack({ type: 'TURN_STARTED', started: start }),
          },
        );
        return {
          kind: outcome.kind,
          exitCode: outcome.exitCode,
          signal: outcome.signal,
          endedAt: outcome.endedAt,
          reason: outcome.reason,
          lastStderrLine: outcome.lastStderrLine,
        };
      };
      run().then(
        (result) => {
          if (!detached) sendBack({ type: 'TURN_ENDED', result });
        },
        (error: unknown) => {
          if (!detached) sendBack({ type: 'TURN_ERROR', message: ensureError(error).message });
        },
      );
      return () => {
        detached = true;
      };
    }),
    stopTurn: fromPromise<StopTurnOutput, StopTurnInput>(async ({ input }) => {
      await Promise.resolve();
      if (input.started !== null && listProcessGroup(input.started.pgid).length > 0) {
        await killProcessGroup(input.started.pgid, { graceMs: input.killGraceMs, clock: effects.clock });
      }
      return { endedAt: effects.clock.now() };
    }),
  };
}

async function reclaimOrphan(effects: EffectContext, turn: TurnAssignment, started: TurnStarted): Promise<TurnResult> {
  const leaderAlive = isProcessAlive(started.pid, started.procStartTime);
  const members = listProcessGroup(started.pgid);
  const marked = findProcessesByEnv('STATECREW_DISPATCH_ID', turn.dispatchId);
  if (leaderAlive || members.length > 0) {
    await killProcessGroup(started.pgid, { graceMs: turn.killGraceMs, clock: effects.clock });
  }
  const stragglers = marked.filter((pid) => !members.includes(pid));
  if (stragglers.length > 0) await killProcesses(stragglers, { graceMs: turn.killGraceMs, clock: effects.clock });
  const what =
    leaderAlive || members.length > 0 || stragglers.length > 0
      ? `its process group ${started.pgid} was still running and was killed and verified gone`
      : `its process ${started.pid} was already gone`;
  return lostResult(effects.clock.now(), `the runtime stopped while the turn ran; ${what}`);
}

function lostResult(at: number, reason: string): TurnResult {
  return { kind: 'lost', exitCode: null, signal: null, endedAt: at, reason, lastStderrLine: null };
}

