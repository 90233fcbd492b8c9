import { isTurnSuccess, type TurnResult } from '../machines/turn.js';
import type { Clock } from '../core/clock.js';
import type { DispatchProjection, LeaseLedgerEntry } from '../persistence/types.js';
import type { ActorHost } from './actorHost.js';
import { handleOf, handlesOf } from './actorHandles.js';
import { milestoneOf, unitOf } from './plan/lookup.js';
import type { Plan } from './plan/types.js';
import { countsAsFailure, failureSignature } from './unitRules.js';
import { topState } from './projections.js';
import type { WorkspaceDriver } from './workspaceDriver.js';

/** What turn forwarding reads: the scheduler's host, plan, ledger and dispatch rows as of this pass. */
export interface TurnForwarding {
  readonly host: ActorHost;
  readonly clock: Clock;
  /** Whether an actor is detached and being restored after a refused job (absent for a moment, not gone). */
  readonly restoring?: (actorId: string) => boolean;
  readonly workspaces: WorkspaceDriver;
  readonly plan: Plan;
  /** The lease ledger of this pass's view, by milestone (or merge lease key). */
  readonly ledger: ReadonlyMap<string, LeaseLedgerEntry>;
  /** The dispatch rows of one unit as the scheduler knows them, in creation order. */
  readonly dispatchesOf: (unitId: string) => readonly DispatchProjection[];
}

/**
 * Worker → dispatch, one step of a scheduler pass: records turn starts and results
 * (idempotent; repeats after a crash), and abandons dispatches whose worker is gone.
 *
 * - In a workspace, a result waits until the workspace recorded the attempt (committed the
 *   unit's work, or saved it and reset the worktree); a success whose workspace ended without
 *   recording it, or whose lease passed on (the ledger has a newer token), is abandoned; a failure
 *   then is recorded without the workspace.
 * - While `draining`, a lost turn cancels its dispatch.
 */
export function forwardTurnEvents(f: TurnForwarding, draining: boolean): void {
  const { host, clock } = f;
  for (const worker of handlesOf(host, 'worker')) {
    const context = worker.context;
    if (context.turn !== null && context.started !== null) {
      const dispatch = handleOf(host.get(context.turn.dispatchId), 'dispatch');
      if (dispatch !== undefined && topState(dispatch.state) === 'claimed') {
        host.send(dispatch.id, { type: 'START', started: context.started });
      }
    }
    const last = context.lastTurn;
    if (last === null) continue;
    const dispatch = handleOf(host.get(last.dispatchId), 'dispatch');
    if (dispatch === undefined || dispatch.ended || topState(dispatch.state) === 'pending') continue;
    const result = last.result;
    const unit = unitOf(f.plan, last.unitId);
    const inWorkspace = milestoneOf(f.plan, dispatch.context.milestoneId)?.workspace !== undefined;
    const passedOn = inWorkspace ? leasePassedOn(f, dispatch.context.milestoneId, dispatch.context.fencingToken) : null;
    if (passedOn !== null && isTurnSuccess(result)) {
      // Its workspace can record nothing under the old token (its writes are fenced): the work
      // is not on the branch, so the unit runs again under the new holder (who saves the changes).
      host.send(dispatch.id, { type: 'ABANDON', reason: `abandoned: ${passedOn} before its workspace recorded the work`, at: clock.now() });
      continue;
    }
    const step = inWorkspace && passedOn === null ? f.workspaces.recorded(dispatch, unit, result) : 'finish';
    if (step === 'wait') continue;
    if (step === 'abandon') {
      host.send(dispatch.id, { type: 'ABANDON', reason: 'abandoned: its workspace ended before recording its work', at: clock.now() });
      continue;
    }
    const signature = stuckSignature(f, last.unitId, dispatch.id, result);
    if (result.kind === 'stopped' || (draining && result.kind === 'lost')) {
      host.send(dispatch.id, { type: 'CANCEL', reason: result.reason, at: result.endedAt });
    } else if (signature !== null && topState(dispatch.state) === 'running') {
      host.send(dispatch.id, { type: 'STUCK', signature, result });
    } else {
      host.send(dispatch.id, { type: 'FINISH', result });
    }
  }
  for (const dispatch of handlesOf(host, 'dispatch')) {
    if (dispatch.ended) continue;
    const state = topState(dispatch.state);
    if (state !== 'claimed' && state !== 'running') continue;
    const worker = dispatch.context.workerId === null ? undefined : host.get(dispatch.context.workerId);
    // A worker being restored after a refused job comes back with its turn (adopted): its dispatch is not abandoned meanwhile.
    if (worker === undefined && dispatch.context.workerId !== null && f.restoring?.(dispatch.context.workerId) === true) continue;
    if (worker === undefined || worker.ended) {
      const why = worker === undefined ? 'its worker is not running' : `its worker ended (${worker.state})`;
      host.send(dispatch.id, { type: 'ABANDON', reason: `abandoned: ${why}`, at: clock.now() });
    }
  }
}

/**
 * Why the milestone lease a dispatch was claimed under is no longer current, from this pass's
 * ledger (`the lease of milestone m passed on (fencing token 1, now 2)`), or `null` while it
 * is (or the ledger has no newer token: tokens only grow, so a newer one is final).
 */
function leasePassedOn(f: TurnForwarding, milestoneId: string, token: number | null): string | null {
  const entry = f.ledger.get(milestoneId);
  if (token === null || entry === undefined || entry.fencingToken <= token) return null;
  return `the lease of milestone ${milestoneId} passed on (fencing token ${token}, now ${entry.fencingToken})`;
}

/**
 * Stuck detection: the failure signature of `result` when the unit's previous
 * `stuckAfter - 1` counted failures, in a row, had the same one; else `null`. The
 * counters are the dispatch rows themselves, so they survive restarts.
 */
function stuckSignature(f: TurnForwarding, unitId: string, dispatchId: string, result: TurnResult): string | null {
  // A turn the API failed (rate limited, overloaded) says nothing about the unit: never stuck on it.
  if (isTurnSuccess(result) || result.kind === 'lost' || result.kind === 'stopped' || result.transient != null) return null;
  const spec = unitOf(f.plan, unitId);
  if (spec === undefined) return null;
  const signature = failureSignature({ outcome: result.kind, exitCode: result.exitCode, signal: result.signal, lastStderrLine: result.lastStderrLine });
  const previous = f.dispatchesOf(unitId).filter((d) => d.id !== dispatchId && countsAsFailure(d));
  const recent = previous.slice(-(spec.stuckAfter - 1));
  if (recent.length < spec.stuckAfter - 1) return null;
  return recent.every((d) => failureSignature(d) === signature) ? signature : null;
}
