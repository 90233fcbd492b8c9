import type { ActorKind, JournalEntry } from './types.js';

/** Which journal rows {@link ActorCheckpointer.queryJournal} returns; every filter is optional and they combine with AND. */
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

/** One journal row as `queryJournal` returns it: the transition and the kind of its actor. */
export interface JournalRecord extends Omit<JournalEntry, 'snapshot'> {
  readonly kind: ActorKind;
  /** JSON text of the snapshot after the transition; present only when the query set `snapshots`. */
  readonly snapshot?: string;
}
