import type { Emitter } from 'mitt';
import type { Clock } from '../core/clock.js';
import { ensureError, StaleFencingTokenError } from '../core/errors.js';
import type { Store } from '../persistence/store.js';
import type { ActorKind, ActorRecord } from '../persistence/types.js';
import type { ActorHost, HostedActor } from './actorHost.js';
import { handleOf, handlesOf } from './actorHandles.js';
import type { RuntimeEvents } from './events.js';
import { topState } from './projections.js';

/** What {@link RestoreJob} needs from the runtime. */
export interface RestoreDeps {
  readonly host: ActorHost;
  readonly store: Store;
  readonly clock: Clock;
  readonly events: Emitter<RuntimeEvents>;
  /** The id of this runtime's own supervisor (restored as itself, not closed as a dead one's). */
  readonly supervisorId: () => string | undefined;
  readonly runtimeId: () => string;
  /** A dispatch row changed outside a job (quarantine). */
  readonly invalidateDispatches: () => void;
  /** False once the run is ending: nothing is restored then. */
  readonly active: () => boolean;
}

/**
 * Restores actors from their committed rows — at start, after a takeover, and after a refused
 * job (the restart path) — quarantining rows that cannot be restored.
 */
export class RestoreJob {
  /** Actors detached by a refused job whose restore has not finished. */
  private readonly pending = new Set<string>();

  constructor(private readonly deps: RestoreDeps) {}

  /** Whether `actorId` was detached by a refused job and is still being restored. */
  restoring(actorId: string): boolean {
    return this.pending.has(actorId);
  }

  /**
   * Restores `records` not hosted yet; closes the supervisors of dead runtimes (`RUNTIME_GONE`).
   * Resolves how many of each kind were restored (supervisors not counted).
   */
  async restore(records: readonly ActorRecord[]): Promise<Record<ActorKind, number>> {
    const { host, store, clock, events } = this.deps;
    const byKind: Record<ActorKind, number> = { supervisor: 0, worker: 0, lease: 0, dispatch: 0, workspace: 0 };
    for (const record of records) {
      if (!this.deps.active()) break;
      if (host.get(record.id) !== undefined) continue;
      let hosted: HostedActor;
      try {
        hosted = host.restore(record);
      } catch (error) {
        const failure = ensureError(error);
        await store.quarantineActor(record.id, failure.message, clock.now());
        this.deps.invalidateDispatches();
        events.emit('actor.quarantined', { actorId: record.id, kind: record.kind, error: failure });
        continue;
      }
      if (record.kind !== 'supervisor') byKind[record.kind]++;
      else if (record.id !== this.deps.supervisorId()) host.send(hosted.id, { type: 'RUNTIME_GONE', reason: `taken over by ${this.deps.runtimeId()}` });
    }
    return byKind;
  }

  /**
   * After a refused job: restores every detached actor that has a committed row (one created in
   * the job has none and is gone). A stale fencing token proves the lease stale: this runtime's
   * lease actor under that token is told `LOST`, its workspaces under that token are released,
   * and restored dispatches claimed under it are abandoned (those writes are not fenced), so
   * they cannot block the unit nor be refused again.
   */
  async restoreRefused(detached: readonly { id: string; kind: ActorKind }[], error: Error): Promise<{ supervisor?: HostedActor }> {
    const { host, store, clock } = this.deps;
    const records: ActorRecord[] = [];
    for (const actor of detached) this.pending.add(actor.id);
    try {
      for (const actor of detached) {
        const record = await store.getActor(actor.id);
        if (record !== undefined && record.status === 'active') records.push(record);
      }
      await this.restore(records);
    } finally {
      for (const actor of detached) this.pending.delete(actor.id);
    }
    if (error instanceof StaleFencingTokenError) {
      for (const lease of handlesOf(host, 'lease')) {
        if (!lease.ended && lease.context.milestoneId === error.milestoneId && lease.context.fencingToken === error.token) {
          host.send(lease.id, { type: 'LOST', currentToken: error.currentToken });
        }
      }
      // A workspace under that token could only be refused again, pass after pass: released (the
      // one write of it that is not fenced), the next holder's workspace takes the worktree over.
      for (const workspace of handlesOf(host, 'workspace')) {
        if (workspace.ended || workspace.context.milestoneId !== error.milestoneId || workspace.context.fencingToken !== error.token) continue;
        host.send(workspace.id, { type: 'RELEASE', reason: `its lease passed on: ${error.message}` });
      }
      for (const record of records) {
        const dispatch = handleOf(host.get(record.id), 'dispatch');
        const state = dispatch === undefined ? '' : topState(dispatch.state);
        if (dispatch === undefined || (state !== 'claimed' && state !== 'running')) continue;
        if (dispatch.context.milestoneId !== error.milestoneId || dispatch.context.fencingToken !== error.token) continue;
        host.send(dispatch.id, { type: 'ABANDON', reason: `fenced: ${error.message}`, at: clock.now() });
      }
    }
    const supervisorId = this.deps.supervisorId();
    const supervisor = detached.some((actor) => actor.id === supervisorId) && supervisorId !== undefined ? host.get(supervisorId) : undefined;
    return supervisor === undefined ? {} : { supervisor };
  }
}
