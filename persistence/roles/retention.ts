/**
 * The retention role: dropping the details of finished work so that a long-lived store stops
 * growing (docs/retention.md). Only actors that finished (status `done`) are touched, never an
 * active or quarantined one; what a run needs to go on and to report (the projection rows:
 * dispatches, workers, leases, workspaces; the lease ledger; the plan) is never dropped.
 *
 * Three categories, each with its own cutoff and its own cursor (the finish time and id of the
 * last actor it handled), so each call looks only at actors not handled yet, oldest first:
 * - `journal`: every journal row of the actor (its snapshots and events, the inspector's time
 *   travel);
 * - `turnOutput`: a dispatch's stored turn output and agent events (`statecrew logs` from the
 *   store, the turn's event table); the log file on the runtime's host is not touched;
 * - `actors`: the actor's own row (its final snapshot).
 */
export interface StoreRetention {
  /**
   * Drops, for at most `limit` actors per category, what the request's cutoffs select; one
   * short transaction per category, so writers wait little. Call again while `more` is true.
   * @throws StoreUnavailableError when the store is busy (retry); StoreFailedError otherwise.
   */
  compact(request: CompactRequest): Promise<CompactResult>;
  /** How far each category has been compacted: every actor that finished at or before `through` (ms since the epoch) was handled. */
  compactionState(): Promise<CompactionState>;
  /**
   * Gives the space freed by {@link StoreRetention.compact} back to the file system (SQLite:
   * `VACUUM`, which rewrites the file and needs as much free space again; PostgreSQL: `VACUUM` of
   * the compacted tables, which only marks the space reusable). Blocks every writer meanwhile.
   * @throws StoreUnavailableError when another connection holds the store (retry when idle).
   */
  vacuum(): Promise<void>;
}

/** A compaction category (see {@link StoreRetention}). */
export type CompactionCategory = 'journal' | 'turnOutput' | 'actors';

/** What one {@link StoreRetention.compact} call drops. */
export interface CompactRequest {
  /**
   * Per category, the finish time (ms since the epoch) before which a finished actor's rows are
   * dropped; `null` or absent: that category is kept.
   */
  readonly before: Partial<Record<CompactionCategory, number | null>>;
  /** Actors handled per category in this call. @default 200 */
  readonly limit?: number;
}

/** What one {@link StoreRetention.compact} call dropped. */
export interface CompactResult {
  /** Actors whose journal was dropped, and the journal rows. */
  readonly journalActors: number;
  readonly journalRows: number;
  /** Dispatches whose stored turn output was dropped, and its rows (output chunks plus agent events). */
  readonly turnOutputDispatches: number;
  readonly turnOutputRows: number;
  /** Finished actors' rows dropped. */
  readonly actors: number;
  /** Some category handled `limit` actors: there may be more to drop. */
  readonly more: boolean;
}

/** Per category: every actor that finished at or before `through` (ms since the epoch) has been compacted; `null`: none yet. */
export type CompactionState = Record<CompactionCategory, { readonly through: number | null }>;
