import type { ActorCheckpointer } from './roles/checkpointer.js';
import type { LeaseLedger } from './roles/leaseLedger.js';
import type { NotificationOutbox } from './roles/notificationOutbox.js';
import type { TraceContexts } from './roles/traceContexts.js';
import type { OperatorQueue } from './roles/operatorQueue.js';
import type { PlanRecords } from './roles/planRecords.js';
import type { RuntimeRegistry } from './roles/runtimeRegistry.js';
import type { TurnEventLog } from './roles/turnEventLog.js';
import type { StoreRetention } from './roles/retention.js';
import type { CommandRecord, DispatchProjection, LeaseLedgerEntry, LeaseProjection, MessageRecord, WorkspaceProjection } from './types.js';

export type { JournalQuery, JournalRecord } from './journalTypes.js';
export type { ActorCheckpointer, LeaseLedger, NotificationOutbox, TraceContexts, OperatorQueue, PlanRecords, RuntimeRegistry, StoreRetention, TurnEventLog };
export type { CompactionCategory, CompactionState, CompactRequest, CompactResult } from './roles/retention.js';

/**
 * The persistence boundary of statecrew: the composition of nine role interfaces, each with its
 * own spec in the shared conformance suite (`test/conformance/`), plus what spans them. The
 * runtime knows only this interface; {@link SqliteStore} is the default backend, and a networked
 * database implements the same methods.
 *
 * Every method is asynchronous. Transitions are staged synchronously by the runtime into their
 * job and written by {@link ActorCheckpointer.commitJob}, all or nothing. Failures are typed
 * (`core/errors.ts`) and say what the caller must do through their `recovery`:
 * `StoreUnavailableError` (retry), the fenced refusals, `StoreFailedError` (stop).
 */
export interface Store extends ActorCheckpointer, LeaseLedger, RuntimeRegistry, OperatorQueue, NotificationOutbox, TraceContexts, TurnEventLog, PlanRecords, StoreRetention {
  /**
   * What one scheduler pass reads, in one call (one round trip on a network store): dispatch
   * rows — all of them when `knownVersion` is not the store's current external version (another
   * connection committed since), else those of `units` only — plus the lease projections, the
   * ledger, the operator's switches, cancellations and messages.
   */
  readSchedulerView(request: SchedulerViewRequest): Promise<SchedulerView>;
  /**
   * Reserves `count` consecutive values of a named counter, durable across restarts; resolves
   * the first (values start at 1). Ids a caller needs at once (workers, leases) come from such
   * blocks without a round trip per id.
   */
  reserveSequence(name: string, count: number): Promise<number>;
  /** A random id of this store (32 hex digits), fixed when it was created. */
  storeId(): Promise<string>;
  /**
   * The store's clock, in ms since the epoch, read as late as the store can (PostgreSQL:
   * `clock_timestamp()` on the server); `null` when the store has no clock of its own and shares
   * the caller's host (SQLite). Runtimes on several hosts align the times they write and compare
   * (heartbeats, lease expiries, deadlines) to it (`src/storeClock.ts`).
   */
  readClock(): Promise<number | null>;
  /**
   * A number that grows whenever a change is committed to the store, by this connection or any
   * other; equal values mean nothing changed. Watchers (the inspector) poll it. Not comparable
   * across connections.
   */
  changeCounter(): Promise<number>;
  /** Like {@link Store.changeCounter}, but moved only by commits of other connections. */
  externalChangeCounter(): Promise<number>;
  /**
   * Calls `onChange` after each commit of another connection this store is notified of
   * (PostgreSQL: LISTEN/NOTIFY, one notification per transaction), so that a watcher acts at
   * once instead of at its next poll; returns the function that stops it. `onChange` must not
   * throw (what it throws is kept as the listener's last error). Left out by stores without
   * notifications (SQLite): their watchers poll {@link Store.externalChangeCounter}.
   */
  watchChanges?(onChange: () => void): () => void;
  /**
   * Checks the store's physical integrity (SQLite: `PRAGMA integrity_check`); resolves the
   * problems found, `[]` when there are none.
   */
  checkIntegrity(): Promise<string[]>;
  /**
   * Resolves once the store can be used: a networked store has connected and migrated its
   * schema (SQLite: at once, the file was opened and migrated by its constructor). Every other
   * method waits for this first; call it to learn early.
   * @throws StoreConnectionError (fix: the server is unreachable, the password, database or a permission is wrong),
   *   StoreVersionError, StoreNotFoundError — nothing was written.
   */
  ready(): Promise<void>;
  /** Closes the connection; later calls fail with `StoreFailedError`. Idempotent. */
  close(): Promise<void>;
  /** Where the store is, for messages and for the default logs folder (a file path or a URL without its password). */
  readonly location: string;
}

/** What {@link Store.readSchedulerView} is asked for. */
export interface SchedulerViewRequest {
  /** The external change version the caller's dispatch rows are current for; `undefined` for none. */
  readonly knownVersion: number | undefined;
  /** Units whose dispatch rows the caller wants again although nobody else wrote. */
  readonly units: readonly string[];
}

/** One scheduler pass's read of the store. */
export interface SchedulerView {
  /** The store's external change version at the time of the read. */
  readonly version: number;
  /** `true`: `dispatches` is every dispatch row; `false`: only those of the requested units. */
  readonly full: boolean;
  readonly dispatches: readonly DispatchProjection[];
  readonly leases: readonly LeaseProjection[];
  readonly ledger: readonly LeaseLedgerEntry[];
  /** Operator switches by key (`paused`, `stop`), with when they were set (ms since epoch). */
  readonly controls: ReadonlyMap<string, { value: string; updatedAt: number }>;
  readonly canceled: readonly { unitId: string; reason: string; canceledAt: number }[];
  readonly messages: readonly MessageRecord[];
  /** Commands not yet done. */
  readonly commands: readonly CommandRecord[];
  /** Every workspace row (one per lease of a milestone with a workspace), oldest first. */
  readonly workspaces: readonly WorkspaceProjection[];
}
