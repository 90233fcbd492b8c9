import type { ActorKind, ActorRecord, ActorSummary, DispatchProjection, JournalEntry, LeaseProjection, SupervisorProjection, WorkspaceProjection, TransitionWrite, WorkerProjection } from '../types.js';
import type { JournalQuery, JournalRecord } from '../journalTypes.js';

/**
 * The checkpointer role: actor snapshots, their journal and their projections (DESIGN.md §6).
 * One job — the transitions of one scheduler pass, one restore, one event's cascade — is
 * written all-or-nothing by {@link ActorCheckpointer.commitJob}; nothing else writes these rows
 * except {@link ActorCheckpointer.quarantineActor}.
 */
export interface ActorCheckpointer {
  /**
   * Writes every transition of one job — each actor's snapshot, journal row and projection
   * (invariant 5) — in one transaction, all or nothing. Each write names the journal sequence
   * number it expects to write (`seq`, the actor's last + 1): a compare-and-set, so the caller
   * knows every sequence number before the commit.
   * @throws StaleFencingTokenError when a write's `fence` is not the milestone's current token.
   * @throws DispatchConflictError when a write would make a second active dispatch of a unit.
   * @throws OwnershipLostError when `owner` no longer owns an actor or its runtime is not `running`.
   * @throws ConcurrentWriteError when an actor's last journal row is not `seq - 1` (or a create finds a row).
   * @throws StoreUnavailableError when the store is busy (retry); StoreFailedError otherwise (stop).
   * In every case nothing of the job was written.
   */
  commitJob(writes: readonly TransitionWrite[]): Promise<void>;
  /** Actors with status `active`, of one kind or all, oldest first. */
  listActiveActors(kind?: ActorKind): Promise<ActorRecord[]>;
  /** Active actors owned by `runtimeId`, oldest first. */
  listOwnedActors(runtimeId: string): Promise<ActorRecord[]>;
  /** Every actor (active, done and quarantined) without its snapshot, oldest first. */
  listActors(): Promise<ActorSummary[]>;
  /** One actor's row, `undefined` when there is none. */
  getActor(id: string): Promise<ActorRecord | undefined>;
  /**
   * Marks an unreadable actor `quarantined` (kept for inspection, never restored) with a
   * journal row `statecrew.quarantine` and its projection's state `quarantined`, in one
   * transaction. `now` in ms since the Unix epoch.
   */
  quarantineActor(id: string, reason: string, now: number): Promise<void>;
  /** Quarantined actors with the reason they were quarantined. */
  listQuarantined(): Promise<{ id: string; kind: ActorKind; reason: string | null }[]>;
  /** Journal of one actor, in sequence order. */
  journal(actorId: string): Promise<JournalEntry[]>;
  /** Number of journal rows (all actors). */
  journalSize(): Promise<number>;
  /**
   * Journal rows of all actors or of those `query` selects, oldest first (by `at`, actor id,
   * `seq`), read lazily in pages as the caller iterates.
   * @throws StoreCorruptError (while iterating) when a row does not have the expected shape.
   */
  queryJournal(query?: JournalQuery): AsyncIterable<JournalRecord>;
  listWorkers(): Promise<WorkerProjection[]>;
  listLeases(): Promise<LeaseProjection[]>;
  /** Dispatch rows, of one unit or all, in creation order. */
  listDispatches(unitId?: string): Promise<DispatchProjection[]>;
  listSupervisors(): Promise<SupervisorProjection[]>;
  /** Workspace rows (one per lease of a milestone with a workspace), oldest first. */
  listWorkspaces(): Promise<WorkspaceProjection[]>;
}
