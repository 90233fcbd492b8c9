import { ConcurrentWriteError, DispatchConflictError, OwnershipLostError, StaleFencingTokenError } from '../core/errors.js';
import { rowToFencingToken, rowToSeqOwner } from './rows.js';
import { isUniqueViolation } from './sqliteErrors.js';
import { writeProjection, type Statements } from './sqliteStatements.js';
import type { TransitionWrite } from './types.js';

/**
 * The rows of one transition, inside the job's transaction (the caller opens it): the owner
 * check, the fence check, the expected-sequence compare-and-set, then the actor row, the
 * journal row and the projection row. Throwing rolls back the whole job.
 * @throws ConcurrentWriteError when the actor's last journal row is not `write.seq - 1`.
 * @throws DispatchConflictError when the projection would be a second active dispatch of a unit.
 * @throws OwnershipLostError when `write.owner` no longer owns the actor, or was declared dead.
 * @throws StaleFencingTokenError when `write.fence` is not the milestone's current token.
 * @internal
 */
export function writeTransitionRows(s: Statements, write: TransitionWrite, ownerRunning: (owner: string) => boolean): void {
  const found = s.actorSeq.get(write.actorId);
  const existing = found === undefined ? undefined : rowToSeqOwner(found);
  if (write.seq === 1 && existing !== undefined) {
    // Two runtimes raced to create the same actor: a conflict of this one decision, not a sign
    // that this runtime lost its actors. A dispatch's is what the unique index would say.
    if (write.projection.kind === 'dispatch') throw new DispatchConflictError(write.projection.row.unitId);
    throw new ConcurrentWriteError(write.actorId, write.seq, existing.seq);
  }
  if (write.owner !== undefined) {
    if (existing !== undefined && existing.ownerRuntime !== write.owner) {
      throw new OwnershipLostError(write.actorId, write.owner, existing.ownerRuntime);
    }
    // A runtime declared dead may not write at all, not even new actors.
    if (!ownerRunning(write.owner)) throw new OwnershipLostError(write.actorId, write.owner, existing?.ownerRuntime ?? null);
  }
  if ((existing?.seq ?? 0) !== write.seq - 1) throw new ConcurrentWriteError(write.actorId, write.seq, existing?.seq ?? null);
  if (write.fence !== undefined) {
    const row = s.ledgerGet.get(write.fence.milestoneId);
    const token = row === undefined ? null : rowToFencingToken(row);
    if (token !== write.fence.fencingToken) throw new StaleFencingTokenError(write.fence.milestoneId, write.fence.fencingToken, token);
  }
  s.actorUpsert.run({
    id: write.actorId,
    kind: write.kind,
    machine_id: write.machineId,
    machine_version: write.machineVersion,
    state: write.state,
    status: write.status,
    snapshot: write.snapshot,
    seq: write.seq,
    at: write.at,
    owner: write.owner ?? existing?.ownerRuntime ?? null,
  });
  s.journalInsert.run({
    actor_id: write.actorId,
    seq: write.seq,
    event_type: write.eventType,
    from_state: write.fromState,
    to_state: write.state,
    at: write.at,
    snapshot: write.snapshot,
    event: write.event ?? null,
  });
  for (const notification of write.notifications ?? []) s.notificationInsert.run(notification);
  try {
    writeProjection(s, write.projection, write.at);
  } catch (error) {
    // The partial unique index `dispatches_one_active` is the dispatch table's only unique
    // constraint besides its key, which the upsert handles.
    if (write.projection.kind === 'dispatch' && isUniqueViolation(error)) throw new DispatchConflictError(write.projection.row.unitId, { cause: error });
    throw error;
  }
}
