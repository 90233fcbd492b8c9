import type {
  ActorKind,
  ActorRecord,
  ActorSummary,
  DispatchProjection,
  JournalEntry,
  LeaseClaimResult,
  LeaseLedgerEntry,
  LeaseProjection,
  LeaseRenewResult,
  CommandRecord,
  MessageRecord,
  PlanRecord,
  RuntimeRecord,
  TurnEventRecord,
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
   * @throws OwnershipLostError when `write.owner` no longer owns the actor.
   * @throws PersistError for any other failure (the transaction is rolled back).
   */
  persistTransition(write: TransitionWrite): number;

  /**
   * Group commit: joins the transaction that commits at the end of the current job, or opens
   * one, so that every write until then shares one commit (each write still succeeds or fails
   * alone). Resolves when it committed; rejects with `PersistError` when the commit failed
   * and everything since the open was rolled back. Report those writes as durable only then.
   * `onSettled` is called once per commit, right after it (with the failure, if any), before
   * code awaiting the promise runs.
   * @throws PersistError when the transaction cannot be opened.
   */
  deferCommit(onSettled?: (error?: Error) => void): Promise<void>;
  /** Resolves when the group commit open now, if any, has committed (rejects as {@link Store.deferCommit}). */
  committed(): Promise<void>;
  /**
   * Commits the open group commit now, if any, rather than at the end of the job: for a fact
   * that must be durable at once, such as the pid of a process just spawned.
   */
  flushCommit(): void;

  /** Actors with status `active`, of one kind or all, oldest first. */
  listActiveActors(kind?: ActorKind): ActorRecord[];
  /** Every actor (active, done and quarantined) without its snapshot, oldest first. */
  listActors(): ActorSummary[];
  getActor(id: string): ActorRecord | undefined;
  /**
   * Marks an unreadable actor `quarantined` — kept for inspection, never restored — with a
   * journal row (`statecrew.quarantine`) and its projection's state set to `quarantined`
   * (so a quarantined dispatch no longer counts as the unit's active one), in one transaction.
   */
  quarantineActor(id: string, reason: string, now?: number): void;
  /** Journal of one actor, in sequence order. */
  journal(actorId: string): JournalEntry[];
  /** Number of journal rows (all actors). */
  journalSize(): number;
  /**
   * Journal rows of all actors, or of those `query` selects, oldest first: ordered by `at`,
   * then actor id, then `seq`. Without `query.limit` the rows are read lazily as the caller
   * iterates (the SQLite adapter streams them; the connection runs no other statement until
   * the iteration ends or is broken off).
   * @throws StoreCorruptError (while iterating) when a row does not have the expected shape.
   */
  queryJournal(query?: JournalQuery): Iterable<JournalRecord>;

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

  /** Registers a runtime process (`state: running`, first heartbeat at `now`). */
  registerRuntime(runtime: { id: string; host: string; pid: number; procStartTime: string | null; now: number; ttlMs: number }): void;
  /**
   * Records a heartbeat. Returns `false` when the runtime is no longer `running` in the
   * store — it was declared dead and taken over — so it must stop driving its actors.
   */
  heartbeatRuntime(id: string, now: number): boolean;
  /** Marks a runtime `stopped` (a clean end) if it is still `running`. */
  stopRuntime(id: string, now: number, reason: string): void;
  listRuntimes(): RuntimeRecord[];
  /**
   * Compare-and-set takeover: if `deadId` is still `running` with heartbeat `heartbeatAt`,
   * marks it `dead` and moves its active actors to `takerId`, in one transaction.
   * Returns the ids of the moved actors, or `null` when the CAS failed (it beat, or another
   * runtime took over first).
   */
  takeOverRuntime(request: { deadId: string; heartbeatAt: number; takerId: string; now: number; reason: string }): string[] | null;
  /** Active actors owned by `runtimeId`. */
  listOwnedActors(runtimeId: string): ActorRecord[];
  /**
   * Moves to `takerId` every active actor that no running runtime owns: no owner (written
   * before ownership existed), or an owner that ended (`stopped`, `dead`) without finishing
   * it. Returns the moved ids.
   */
  adoptUnownedActors(takerId: string): string[];
  /** Quarantined actors with the reason they were quarantined. */
  listQuarantined(): { id: string; kind: ActorKind; reason: string | null }[];
  /** Every row of the lease ledger. */
  listLeaseLedger(): LeaseLedgerEntry[];

  /** Queues an operator command; returns its id. */
  enqueueCommand(command: { kind: CommandRecord['kind']; target: string | null; now: number }): number;
  /** Commands not yet done, oldest first. */
  listPendingCommands(): CommandRecord[];
  getCommand(id: number): CommandRecord | undefined;
  /** Compare-and-set: `true` when `runtimeId` is the one that takes the command. */
  takeCommand(id: number, runtimeId: string): boolean;
  completeCommand(id: number, outcome: 'done' | 'not-found' | 'nothing-running', message: string, now: number): void;
  /** Sets (or, with `null`, clears) a durable operator switch such as `paused`. */
  setControl(key: string, value: string | null, now: number): void;
  getControl(key: string): { value: string; updatedAt: number } | undefined;
  /** Records that an operator canceled a unit; `false` when it already was. */
  cancelUnit(unitId: string, reason: string, now: number): boolean;
  listCanceledUnits(): { unitId: string; reason: string; canceledAt: number }[];
  /** Queues a message for a unit's next turn; returns its id. */
  enqueueMessage(unitId: string, text: string, now: number): number;
  /** Messages, of one unit or all, in the order they were sent. */
  listMessages(unitId?: string): MessageRecord[];

  /** Records the events of a turn's output (idempotent per dispatch and line), in one transaction. */
  recordTurnEvents(events: readonly TurnEventRecord[]): void;
  turnEvents(dispatchId: string): TurnEventRecord[];

  /**
   * A number that grows whenever a change is committed to the store, by this connection or
   * any other (another process's runtime included); equal values mean nothing changed.
   * Watchers such as the inspector poll it instead of re-reading tables. Not comparable
   * across connections.
   */
  changeCounter(): number;
  /**
   * Like {@link Store.changeCounter}, but moved only by commits of other connections (other
   * processes): equal values mean every change since was made through this store object.
   * SQLite: `PRAGMA data_version`.
   */
  externalChangeCounter(): number;

  /** A random id of this store (32 hex digits), fixed when it was created. */
  storeId(): string;

  /** Next value of a named counter (1, 2, …), durable across restarts. */
  nextSequence(name: string): number;

  close(): void;
}

/** Which journal rows {@link Store.queryJournal} returns; every filter is optional and they combine with AND. */
export interface JournalQuery {
  /** Only the rows of the actor with this id (exact match). */
  readonly actorId?: string;
  /** Only the rows of actors of this kind. */
  readonly kind?: ActorKind;
  /** Only the rows persisted at or after this time, ms since the Unix epoch. */
  readonly since?: number;
  /** Only the `limit` most recent rows (a whole number of at least 1), still returned oldest first. @default no limit */
  readonly limit?: number;
  /** Read each row's snapshot too; left out by default, as snapshots are most of a journal's bytes. @default false */
  readonly snapshots?: boolean;
}

/** One journal row as {@link Store.queryJournal} returns it: the transition and the kind of its actor. */
export interface JournalRecord extends Omit<JournalEntry, 'snapshot'> {
  readonly kind: ActorKind;
  /** JSON text of the snapshot after the transition; present only when the query set `snapshots`. */
  readonly snapshot?: string;
}
