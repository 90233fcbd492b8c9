import { z } from 'zod';
import type { Store } from '../../persistence/store.js';
import type { ActorKind, ActorSummary, JournalEntry } from '../../persistence/types.js';

/** The actor list of the inspector page, with counts for its filters. */
export interface ActorListView {
  /** Every actor of the store (active, done, quarantined), oldest first. */
  readonly actors: readonly ActorSummary[];
  /** Number of actors per kind. */
  readonly byKind: Readonly<Partial<Record<ActorKind, number>>>;
  /** Number of actors per `kind` and current state, e.g. `{ worker: { between_turns: 3 } }`. */
  readonly byState: Readonly<Partial<Record<ActorKind, Record<string, number>>>>;
  /** {@link Store.changeCounter} when the list was read. */
  readonly version: number;
}

/** One persisted transition as the timeline shows it: what caused it and what the actor was then. */
export interface TimelineEntry {
  readonly seq: number;
  /** ms since the Unix epoch. */
  readonly at: number;
  readonly eventType: string;
  /** The event's payload as recorded (`null` for rows written before events were recorded). */
  readonly event: unknown;
  readonly fromState: string | null;
  readonly toState: string;
  /** Active state paths after the transition, outermost first: `['pending', 'pending.backoff']`. */
  readonly activePaths: readonly string[];
  /** The machine's context after the transition. */
  readonly context: unknown;
  /** Set when the row's snapshot or event could not be read; the other fields still are. */
  readonly error?: string;
}

/** One actor with its journal, for the statechart and timeline panels. */
export interface ActorDetailView {
  readonly actor: ActorSummary;
  readonly current: { readonly activePaths: readonly string[]; readonly context: unknown; readonly error?: string };
  /** Journal rows with `seq > after` (all rows by default), oldest first. */
  readonly journal: readonly TimelineEntry[];
}

/** Reads the actor list and its counts. */
export async function readActorList(store: Store): Promise<ActorListView> {
  const version = await store.changeCounter();
  const actors = await store.listActors();
  const byKind: Partial<Record<ActorKind, number>> = {};
  const byState: Partial<Record<ActorKind, Record<string, number>>> = {};
  for (const actor of actors) {
    byKind[actor.kind] = (byKind[actor.kind] ?? 0) + 1;
    const states = (byState[actor.kind] ??= {});
    states[actor.state] = (states[actor.state] ?? 0) + 1;
  }
  return { actors, byKind, byState, version };
}

/**
 * Reads one actor with its journal rows after `after` (a sequence number; 0 for all).
 * @returns `undefined` when the store has no actor `id`.
 */
export async function readActorDetail(store: Store, id: string, after = 0): Promise<ActorDetailView | undefined> {
  const record = await store.getActor(id);
  if (record === undefined) return undefined;
  const { snapshot, ...actor } = record;
  const current = readSnapshot(snapshot);
  const rows = await store.journal(id);
  return {
    actor,
    current: { activePaths: current.activePaths, context: current.context, ...(current.error === undefined ? {} : { error: current.error }) },
    journal: rows.filter((row) => row.seq > after).map(toTimelineEntry),
  };
}

/**
 * Active state paths of a state value, outermost first:
 * `{ pending: 'backoff' }` → `['pending', 'pending.backoff']`; parallel regions give one
 * path per active state of every region.
 */
export function activePaths(value: StateValue, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = prefix + key;
    return child === undefined ? [path] : [path, ...activePaths(child, `${path}.`)];
  });
}

type StateValue = string | { [key: string]: StateValue | undefined };

const stateValue: z.ZodType<StateValue> = z.lazy(() => z.union([z.string(), z.record(z.string(), stateValue.optional())]));
const persistedSnapshot = z.looseObject({ value: stateValue, context: z.unknown().optional() });

function readSnapshot(json: string): { activePaths: string[]; context: unknown; error?: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (error) {
    return { activePaths: [], context: null, error: `snapshot is not JSON: ${(error as Error).message}` };
  }
  const result = persistedSnapshot.safeParse(parsed);
  if (!result.success) return { activePaths: [], context: null, error: `snapshot has no state value: ${z.prettifyError(result.error)}` };
  return { activePaths: activePaths(result.data.value), context: result.data.context ?? null };
}

function toTimelineEntry(row: JournalEntry): TimelineEntry {
  const snapshot = readSnapshot(row.snapshot);
  let event: unknown = null;
  let eventError: string | undefined;
  if (row.event !== null) {
    try {
      event = JSON.parse(row.event);
    } catch (error) {
      eventError = `event is not JSON: ${(error as Error).message}`;
    }
  }
  const error = [snapshot.error, eventError].filter((text) => text !== undefined).join('; ');
  return {
    seq: row.seq,
    at: row.at,
    eventType: row.eventType,
    event,
    fromState: row.fromState,
    toState: row.toState,
    activePaths: snapshot.activePaths,
    context: snapshot.context,
    ...(error === '' ? {} : { error }),
  };
}
