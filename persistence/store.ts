import type {
  ActorKind,
  ActorRecord,
  DispatchProjection,
  JournalEntry,
  LeaseClaimResult,
  LeaseLedgerEntry,
  LeaseProjection,
  LeaseRenewResult,
  PlanRecord,
  SupervisorProjection,
  TransitionWrite,
  WorkerProjection,
} from './types.js';

/**
 * The persistence boundary of statecrew. The runtime knows only this interface; the
 * SQLite adapter ({@link SqliteStore}) is the default backend, and every backend must
 * pass the shared conformance suite in `test/storeConformance.ts`.
 *
 * All methods are synchronous: a transition is durable when `persistTransition` returns.
 */
export interface Store {
  /**
   * Writes an actor's snapshot, its journal row and its projection in one transaction
   * (invariant 5) and returns the journal sequence number.
   * @throws StaleFencingTokenError when `write.fence` carries a stale token (nothing written).
   * @throws DispatchConflictError when the projection would be a second active dispatch of a unit.
   * @throws PersistError for any other failure (the transaction is rolled back).
   */
  persistTransition(write: TransitionWrite): number;

  /** Actors with status `active`, of one kind or all, oldest first. */
  listActiveActors(kind?: ActorKind): ActorRecord[];
  getActor(id: string): ActorRecord | undefined;
  /** Marks an unreadable actor `quarantined` (kept for inspection, never restored). */
  quarantineActor(id: string, reason: string): void;
  /** Journal of one actor, in sequence order. */
  journal(actorId: string): JournalEntry[];
  /** Number of journal rows (all actors). */
  journalSize(): number;

  listWorkers(): WorkerProjection[];
  listLeases(): LeaseProjection[];
  listDispatches(unitId?: string): DispatchProjection[];
  listSupervisors(): SupervisorProjection[];

  /**
   * Lease ledger compare-and-set: grants the milestone to `holderId` when it is free,
   * expired (`expiresAt <= now`) or already held by `holderId` under `leaseId` (idempotent),
   * incrementing the fencing token for every new holder (invariant 1).
   */
  claimLease(request: { milestoneId: string; holderId: string; leaseId: string; ttlMs: number; now: number }): LeaseClaimResult;
  /** Extends the lease if `fencingToken` is still current and not expired. */
  renewLease(request: { milestoneId: string; fencingToken: number; ttlMs: number; now: number }): LeaseRenewResult;
  /** Frees the milestone if `fencingToken` is still current (idempotent); `false` when it was stale. */
  releaseLease(request: { milestoneId: string; fencingToken: number }): boolean;
  getLease(milestoneId: string): LeaseLedgerEntry | undefined;

  /** Records the submitted plan (JSON text) and its fingerprint, replacing the previous one. */
  savePlan(record: PlanRecord): void;
  loadPlan(): PlanRecord | undefined;

  /** Next value of a named counter (1, 2, …), durable across restarts. */
  nextSequence(name: string): number;

  close(): void;
}
