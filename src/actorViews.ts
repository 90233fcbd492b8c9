import type { Store } from '../persistence/store.js';
import type { ActorKind, ActorStatus, ActorSummary } from '../persistence/types.js';
import { ensureError, StoreCorruptError } from '../core/errors.js';
import { activePaths } from './inspector/inspectorData.js';
import type { ActorView } from './runtime.js';

/**
 * Reads one actor from the store as {@link ActorView}: its row, its persisted snapshot
 * parsed, its active state paths and context. `live` says whether `isLive(id)`.
 * @throws StoreCorruptError when the row cannot be read.
 */
export async function readActorView(store: Store, id: string, isLive: (id: string) => boolean): Promise<ActorView | undefined> {
  const record = await store.getActor(id);
  if (record === undefined) return undefined;
  const { snapshot: json, ...summary } = record;
  let snapshot: { value?: unknown; context?: unknown };
  try {
    snapshot = JSON.parse(json) as { value?: unknown; context?: unknown };
  } catch (error) {
    throw new StoreCorruptError(`corrupt snapshot of actor ${id}: ${ensureError(error).message}`, { cause: error });
  }
  return {
    ...summary,
    activePaths: snapshot.value === undefined ? [] : activePaths(snapshot.value as Parameters<typeof activePaths>[0]),
    context: snapshot.context ?? null,
    snapshot,
    live: isLive(id),
  };
}

/** Actors of the store matching `filter`; `state` matches the whole state or its top-level state. */
export async function listActorSummaries(
  store: Store,
  filter: { readonly kind?: ActorKind; readonly state?: string; readonly status?: ActorStatus } = {},
): Promise<ActorSummary[]> {
  return (await store.listActors()).filter(
      (actor) =>
        (filter.kind === undefined || actor.kind === filter.kind) &&
        (filter.status === undefined || actor.status === filter.status) &&
        (filter.state === undefined || actor.state === filter.state || actor.state.startsWith(`${filter.state}.`)),
    );
}
