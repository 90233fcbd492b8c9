import { DispatchConflictError, OwnershipLostError, StaleFencingTokenError } from '../core/errors.js';
import { writeProjection, type Statements } from './sqliteStatements.js';
import type { TransitionWrite } from './types.js';

/**
 * The body of one transition's transaction (the caller opens it: `BEGIN IMMEDIATE`, or a
 * savepoint inside a group commit): the owner check, the fence check, then the actor row,
 * the journal row and the projection row. Returns the journal sequence number.
 * @throws DispatchConflictError when a create finds the dispatch already there (a race).
 * @throws OwnershipLostError when `write.owner` no longer owns the actor, or was declared dead.
 * @throws StaleFencingTokenError when `write.fence` is not the milestone's current token.
 * @internal
 */
export function writeTransitionRows(s: Statements, write: TransitionWrite): number {
  const existing = s.actorSeq.get(write.actorId) as { seq: number; owner_runtime: string | null } | undefined;
  if (write.create === true && existing !== undefined) {
    // Two holders raced to create the same dispatch: the store decided, like the unique index.
    if (write.projection.kind === 'dispatch') throw new DispatchConflictError(write.projection.row.unitId);
    throw new Error(`actor ${write.actorId} already exists`);
  }
  if (write.owner !== undefined) {
    if (existing !== undefined && existing.owner_runtime !== write.owner) {
      throw new OwnershipLostError(write.actorId, write.owner, existing.owner_runtime);
    }
    // A runtime declared dead may not write at all, not even new actors.
    const runtime = s.runtimeState.get(write.owner) as { state: string } | undefined;
    if (runtime !== undefined && runtime.state !== 'running') {
      throw new OwnershipLostError(write.actorId, write.owner, existing?.owner_runtime ?? null);
    }
  }
  if (write.fence !== undefined) {
    const lease = s.ledgerGet.get(write.fence.milestoneId) as { fencing_token: number } | undefined;
    if (lease === undefined || lease.fencing_token !== write.fence.fencingToken) {
      throw new StaleFencingTokenError(write.fence.milestoneId, write.fence.fencingToken, lease?.fencing_token ?? null);
    }
  }
  const seq = (existing?.seq ?? 0) + 1;
  s.actorUpsert.run({
    id: write.actorId,
    kind: write.kind,
    machine_id: write.machineId,
    machine_version: write.machineVersion,
    state: write.state,
    status: write.status,
    snapshot: write.snapshot,
    seq,
    at: write.at,
    owner: write.owner ?? existing?.owner_runtime ?? null,
  });
  s.journalInsert.run({
    actor_id: write.actorId,
    seq,
    event_type: write.eventType,
    from_state: write.fromState,
    to_state: write.state,
    at: write.at,
    snapshot: write.snapshot,
    event: write.event ?? null,
  });
  writeProjection(s, write.projection, write.at);
  return seq;
}
