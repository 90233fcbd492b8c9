import type { Emitter } from 'mitt';
import type { DispatchContext } from '../machines/dispatch.js';
import type { LeaseContext } from '../machines/lease.js';
import type { WorkerContext } from '../machines/worker.js';
import type { WorkspaceContext } from '../machines/workspace.js';
import type { DispatchProjection } from '../persistence/types.js';
import type { PersistedTransition } from './actorHost.js';
import type { Clock } from '../core/clock.js';
import type { RuntimeEvents } from './events.js';
import { unitOf } from './plan/lookup.js';
import type { Plan, UnitSpec } from './plan/types.js';
import { countsAsFailure, MAX_TRANSIENT_BACKOFF_MS, nextAttemptAt } from './unitRules.js';
import { topState } from './projections.js';

/**
 * Turns committed transitions into the host-facing events (`unit.*`, `lease.*`,
 * `worker.died`). Called after the transition is durable.
 */
export function describeTransition(
  transition: PersistedTransition,
  dispatchesOf: (unitId: string) => readonly DispatchProjection[],
  clock: Clock,
  events: Emitter<RuntimeEvents>,
  plan: Plan | undefined,
): void {
  const to = topState(transition.to);
  const from = transition.from === null ? null : topState(transition.from);
  if (to === from) return;
  switch (transition.kind) {
    case 'dispatch': {
      const c = transition.context as DispatchContext;
      if (to === 'running' && c.started !== null && c.workerId !== null) {
        events.emit('unit.started', {
          unitId: c.unitId,
          dispatchId: c.dispatchId,
          attempt: c.attempt,
          workerId: c.workerId,
          pid: c.started.pid,
          logPath: c.started.logPath,
        });
      } else if (to === 'completed') {
        events.emit('unit.completed', {
          unitId: c.unitId,
          dispatchId: c.dispatchId,
          attempt: c.attempt,
          workerId: c.workerId,
          durationMs: c.started !== null && c.endedAt !== null ? c.endedAt - c.started.startedAt : null,
        });
      } else if (to === 'failed' || to === 'stuck') {
        const unit = plan === undefined ? undefined : unitOf(plan, c.unitId);
        const failures = dispatchesOf(c.unitId).filter(countsAsFailure).length;
        const transient = c.result?.transient ?? null;
        const retries = unit !== undefined && to === 'failed' && (transient !== null || failures < unit.maxAttempts);
        const retryAt = unit === undefined
          ? null
          : transient !== null
            ? transientRetryBound(unit, transient.resetAt, dispatchesOf(c.unitId).filter((d) => d.id !== c.dispatchId), c.endedAt ?? clock.now())
            : nextAttemptAt(unit, failures, c.endedAt ?? clock.now());
        events.emit('unit.failed', {
          unitId: c.unitId,
          dispatchId: c.dispatchId,
          attempt: c.attempt,
          workerId: c.workerId,
          reason: c.endReason ?? c.result?.reason ?? to,
          retryInMs: retries ? Math.max(0, (retryAt ?? clock.now()) - clock.now()) : null,
        });
        if (to === 'stuck') {
          events.emit('unit.stuck', { unitId: c.unitId, dispatchId: c.dispatchId, attempt: c.attempt, reason: c.endReason ?? c.result?.reason ?? 'stuck' });
        }
      } else if (to === 'canceled') {
        events.emit('unit.canceled', { unitId: c.unitId, dispatchId: c.dispatchId, reason: c.endReason ?? 'canceled' });
      }
      return;
    }
    case 'workspace': {
      const c = transition.context as WorkspaceContext;
      const reason = c.reason ?? to;
      if (to === 'merged' && c.mergedCommit !== null) {
        const already = (transition.event as { output?: { already?: boolean } }).output?.already === true;
        events.emit('workspace.merged', { milestoneId: c.milestoneId, branch: c.branch, base: c.base, commit: c.mergedCommit, already });
      } else if (to === 'conflict') {
        events.emit('workspace.conflict', { milestoneId: c.milestoneId, branch: c.branch, reason });
      } else if (to === 'check_failed') {
        events.emit('workspace.check_failed', { milestoneId: c.milestoneId, branch: c.branch, reason });
      }
      return;
    }
    case 'lease': {
      const c = transition.context as LeaseContext;
      if (to === 'held') {
        events.emit('lease.acquired', { milestoneId: c.milestoneId, workerId: c.workerId, fencingToken: c.fencingToken ?? 0 });
      } else if (transition.done) {
        events.emit('lease.ended', {
          milestoneId: c.milestoneId,
          workerId: c.workerId,
          fencingToken: c.fencingToken,
          state: to,
          reason: c.endReason,
        });
        if (to === 'lost' || to === 'expired') {
          events.emit('lease.lost', { milestoneId: c.milestoneId, workerId: c.workerId, fencingToken: c.fencingToken, state: to, reason: c.endReason });
        }
      }
      return;
    }
    case 'worker': {
      const c = transition.context as WorkerContext;
      if (to === 'zombie') {
        events.emit('worker.died', {
          workerId: c.workerId,
          unitId: c.turn?.unitId ?? c.lastTurn?.unitId ?? null,
          reason: c.endReason ?? 'zombie',
          lastActivityAt: c.lastTurn?.result.lastActivityAt ?? c.lastTurn?.result.endedAt ?? null,
        });
      }
      return;
    }
    case 'supervisor':
      return;
  }
}

/**
 * When a unit whose turn the API just failed runs again, at the latest: the API's reset time, else
 * the end of the backoff before jitter (`retryBackoffMs` doubling with each transient failure in a
 * row before this one, capped at {@link MAX_TRANSIENT_BACKOFF_MS}; the jitter makes it up to half
 * earlier, see `transientRetryAt`).
 */
function transientRetryBound(unit: UnitSpec, resetAt: number | null, earlier: readonly DispatchProjection[], endedAt: number): number {
  if (resetAt !== null) return resetAt;
  let inRow = 0;
  for (let i = earlier.length - 1; i >= 0 && earlier[i]?.transient != null && earlier[i]?.state === 'failed'; i--) inRow++;
  return endedAt + Math.min(MAX_TRANSIENT_BACKOFF_MS, unit.retryBackoffMs * 2 ** inRow);
}
