import fs from 'node:fs';
import { fromCallback, fromPromise } from 'xstate';
import { dispatchMachine, type DeadlineInput } from '../machines/dispatch.js';
import { leaseMachine, type HeldLeaseInput, type LeaseEvent, type LeaseInput } from '../machines/lease.js';
import type { TurnAssignment, TurnResult, TurnStarted } from '../machines/turn.js';
import { workerMachine, type StopTurnInput, type StopTurnOutput, type WorkerEvent } from '../machines/worker.js';
import { findProcessesByEnv, isProcessAlive, killProcesses, killProcessGroup, listProcessGroup } from '../actors/processes.js';
import { runTurn } from '../actors/turnRunner.js';
import type { Store } from '../persistence/store.js';
import type { Clock } from './clock.js';
import { ensureError } from './errors.js';

/** What the effect implementations need from the runtime. */
export interface EffectContext {
  readonly store: Store;
  readonly clock: Clock;
  /** Folder of per-worker and per-turn log files. */
  readonly logsDir: string;
  /** Reads the recorded start of a turn (pid, pgid, start time) for a dispatch, if one was recorded. */
  readonly recordedStart: (workerId: string, dispatchId: string) => TurnStarted | null;
}

/**
 * The worker machine with its effects: the turn runner (child processes), process-group
 * kill with verification, and the log folder. `runTurn` is idempotent across restores: a
 * turn whose start was recorded is never spawned again; its orphans are killed and
 * verified gone, and the turn is reported `lost`.
 */
export function provideWorker(effects: EffectContext) {
  return workerMachine.provide({
    actors: {
      prepareWorker: fromPromise<void, { workerId: string }>(async () => {
        await Promise.resolve();
        fs.mkdirSync(effects.logsDir, { recursive: true });
      }),
      runTurn: fromCallback<WorkerEvent, TurnAssignment>(({ input, sendBack }) => {
        const abort = new AbortController();
        const run = async (): Promise<TurnResult> => {
          await Promise.resolve();
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
              signal: abort.signal,
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
            if (!abort.signal.aborted) sendBack({ type: 'TURN_ENDED', result });
          },
          (error: unknown) => {
            if (!abort.signal.aborted) sendBack({ type: 'TURN_ERROR', message: ensureError(error).message });
          },
        );
        return () => abort.abort();
      }),
      stopTurn: fromPromise<StopTurnOutput, StopTurnInput>(async ({ input }) => {
        await Promise.resolve();
        if (input.started !== null && listProcessGroup(input.started.pgid).length > 0) {
          await killProcessGroup(input.started.pgid, { graceMs: input.killGraceMs, clock: effects.clock });
        }
        return { endedAt: effects.clock.now() };
      }),
    },
  });
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

/** The lease machine with its store-backed claim, renewal and release. */
export function provideLease(effects: EffectContext) {
  return leaseMachine.provide({
    actors: {
      claimLease: fromPromise(async ({ input }: { input: LeaseInput }) => {
        await Promise.resolve();
        return effects.store.claimLease({
          milestoneId: input.milestoneId,
          holderId: input.workerId,
          leaseId: input.leaseId,
          ttlMs: input.ttlMs,
          now: effects.clock.now(),
        });
      }),
      holdLease: fromCallback<LeaseEvent, HeldLeaseInput>(({ input, sendBack }) => holdLease(effects, input, sendBack)),
      releaseLease: fromPromise(async ({ input }: { input: HeldLeaseInput }) => {
        await Promise.resolve();
        return { released: effects.store.releaseLease({ milestoneId: input.milestoneId, fencingToken: input.fencingToken }) };
      }),
    },
  });
}

/**
 * Renews a held lease at `expiresAt - 2/3·ttl`, i.e. every `ttl/3`, so two renewals may be
 * late before it expires. The first renewal is armed from the absolute `expiresAt`, so
 * after a restore it fires at once if that time has passed. A store failure becomes
 * `RENEW_FAILED` (the lease is then `lost`: the holder must stop relying on it).
 */
function holdLease(effects: EffectContext, input: HeldLeaseInput, sendBack: (event: LeaseEvent) => void): () => void {
  let timer: unknown;
  let stopped = false;
  const arm = (expiresAt: number): void => {
    const delay = Math.max(0, expiresAt - (input.ttlMs * 2) / 3 - effects.clock.now());
    timer = effects.clock.setTimeout(renew, delay);
  };
  const renew = (): void => {
    if (stopped) return;
    let result: ReturnType<Store['renewLease']>;
    try {
      result = effects.store.renewLease({
        milestoneId: input.milestoneId,
        fencingToken: input.fencingToken,
        ttlMs: input.ttlMs,
        now: effects.clock.now(),
      });
    } catch (error) {
      sendBack({ type: 'RENEW_FAILED', message: ensureError(error).message });
      return;
    }
    if (!result.ok) {
      sendBack(result.reason === 'expired' ? { type: 'EXPIRED' } : { type: 'LOST', currentToken: result.currentToken });
      return;
    }
    sendBack({ type: 'RENEWED', expiresAt: result.expiresAt });
    arm(result.expiresAt);
  };
  arm(input.expiresAt);
  return () => {
    stopped = true;
    effects.clock.clearTimeout(timer);
  };
}

/** The dispatch machine with its durable backoff timer. */
export function provideDispatch(effects: EffectContext) {
  return dispatchMachine.provide({
    actors: {
      waitUntil: fromPromise<void, DeadlineInput>(async ({ input, signal }) => {
        await Promise.resolve();
        const remaining = input.at - effects.clock.now();
        if (remaining <= 0) return;
        await new Promise<void>((resolve) => {
          const timer = effects.clock.setTimeout(resolve, remaining);
          signal.addEventListener('abort', () => effects.clock.clearTimeout(timer));
        });
      }),
    },
  });
}
