import { openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import type { JournalRecord } from '../../persistence/store.js';
import type { ActorKind } from '../../persistence/types.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { StoreCorruptError } from '../../core/errors.js';
import { EXIT } from './exitCodes.js';
import type { JournalSince } from './optionParsers.js';

// The option parsers live apart (the CLI loads them before it knows which command runs).
export { JOURNAL_KINDS, parseLimit, parseSince, type JournalSince } from './optionParsers.js';
import type { CliIO } from './io.js';



export interface JournalCommandOptions {
  /** Path of the SQLite store, relative to `io.cwd`. */
  readonly store: string;
  /** Only this actor's transitions (exact id). */
  readonly actor?: string;
  /** Only the transitions of actors of this kind. */
  readonly kind?: ActorKind;
  /** Only the transitions persisted at or after this time. */
  readonly since?: JournalSince;
  /** Only the `limit` most recent transitions (still printed oldest first). */
  readonly limit?: number;
  /** Print JSON Lines instead of text. */
  readonly json: boolean;
  /** Add each row's snapshot to the JSON Lines. @default false */
  readonly snapshots?: boolean;
}

/** Lines written to stdout per `write` call. */
const LINES_PER_WRITE = 256;

/**
 * `statecrew journal [--store PATH] [--actor ID] [--kind KIND] [--since TIME] [--limit N] [--json [--snapshots]]`:
 * prints the persisted transitions of every actor, oldest first (by time, then actor id,
 * then sequence number), one per line:
 * `2026-11-21T06:00:00.123Z  compile#1  #3  pending.ready → claimed  (CLAIM)`, with `∅` as
 * the source state of an actor's first row; a transition that records a stream-json turn's
 * result adds `session <id>` and, when the turn resumed another session, `resume mismatch`.
 * With `json`, one JSON object per line: `{ at, actorId, kind, seq, event, from, to }` (`at`
 * ISO-8601, `from` null for the first row), plus `sessionId` and `resumeMismatch` for such a
 * transition, and `snapshot` (the parsed persisted snapshot) with `snapshots`.
 * Opens the store read-only and never creates it; rows are streamed unless there is a `limit`.
 * When retention dropped journal rows the query could have shown, a note on stderr says up to
 * when (the journal cursor of `StoreRetention.compactionState`).
 * @param clock resolves a `since` given as a duration ago. @default systemClock
 * @returns exit code 0 (also when no row matches).
 * @throws StoreNotFoundError when there is no store at the path (the CLI exits 2).
 * @throws StoreCorruptError when the file is not a store, or a row or a snapshot cannot be read (the CLI exits 2).
 */
export async function journalCommand(options: JournalCommandOptions, io: CliIO, clock: Pick<Clock, 'now'> = systemClock): Promise<number> {
  const store = openStoreAt(resolveStoreLocation(options.store, io.cwd), { readonly: true });
  try {
    const records = store.queryJournal({
      ...(options.actor === undefined ? {} : { actorId: options.actor }),
      ...(options.kind === undefined ? {} : { kind: options.kind }),
      ...(options.since === undefined ? {} : { since: 'at' in options.since ? options.since.at : clock.now() - options.since.agoMs }),
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      snapshots: options.snapshots === true,
    });
    const since = options.since === undefined ? null : 'at' in options.since ? options.since.at : clock.now() - options.since.agoMs;
    // Rows that retention dropped are not missing by accident: say so (on stderr, so stdout stays data).
    const compacted = (await store.compactionState()).journal.through;
    if (compacted !== null && (since === null || since <= compacted)) {
      io.stderr.write(`statecrew: the journal of actors that finished at or before ${new Date(compacted).toISOString()} was dropped by retention (docs/retention.md); their rows are not shown\n`);
    }
    const format = options.json ? (record: JournalRecord) => JSON.stringify(toJson(record)) : formatLine;
    let lines: string[] = [];
    for await (const record of records) {
      lines.push(format(record));
      if (lines.length === LINES_PER_WRITE) {
        io.stdout.write(`${lines.join('\n')}\n`);
        lines = [];
      }
    }
    if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

function formatLine(record: JournalRecord): string {
  const at = new Date(record.at).toISOString();
  const session = turnSession(record);
  const detail = session === null ? '' : `  session ${session.sessionId}${session.resumeMismatch ? '  resume mismatch' : ''}`;
  return `${at}  ${record.actorId}  #${record.seq}  ${record.fromState ?? '∅'} → ${record.toState}  (${record.eventType})${detail}`;
}

/** The agent session a transition's event reports (a dispatch's or worker's turn result), if any. */
function turnSession(record: JournalRecord): { sessionId: string; resumeMismatch: boolean } | null {
  if (record.event === null || !record.event.includes('"sessionId"')) return null;
  let event: unknown;
  try {
    event = JSON.parse(record.event);
  } catch {
    // A cut or unreadable event payload has no session to show; the row itself is printed as it is.
    return null;
  }
  const result = (event as { result?: { sessionId?: unknown; resumeMismatch?: unknown } } | null)?.result;
  return typeof result?.sessionId === 'string' ? { sessionId: result.sessionId, resumeMismatch: result.resumeMismatch === true } : null;
}

function toJson(record: JournalRecord): Record<string, unknown> {
  const row = {
    at: new Date(record.at).toISOString(),
    actorId: record.actorId,
    kind: record.kind,
    seq: record.seq,
    event: record.eventType,
    from: record.fromState,
    to: record.toState,
    ...turnSession(record),
  };
  return record.snapshot === undefined ? row : { ...row, snapshot: parseSnapshot(record) };
}

function parseSnapshot(record: JournalRecord): unknown {
  try {
    return JSON.parse(record.snapshot ?? '');
  } catch (error) {
    throw new StoreCorruptError(`the snapshot of journal row #${record.seq} of actor ${record.actorId} is not JSON`, { cause: error });
  }
}

