import type { Emitter } from 'mitt';
import type { HostIdentity } from '../actors/hostIdentity.js';
import type { Store } from '../persistence/store.js';
import type { ActorRecord } from '../persistence/types.js';
import type { RuntimeEvents } from './events.js';
import { deadVerdict } from './liveness.js';

/**
 * Takes over, for runtime `takerId`, every actor no running runtime drives: ownerless ones
 * and those of runtimes that ended without finishing them, then those of every runtime that
 * is dead ({@link deadVerdict}) — each with a compare-and-set on the registry row, so two
 * live runtimes never both take the same one. Returns the moved actor rows, to be restored.
 * Emits `runtime.took-over` per runtime taken over.
 */
export async function takeOverDeadRuntimes(
  store: Store,
  takerId: string,
  host: HostIdentity,
  now: number,
  events: Emitter<RuntimeEvents>,
): Promise<ActorRecord[]> {
  const moved: string[] = [...(await store.adoptUnownedActors(takerId))];
  for (const runtime of await store.listRuntimes()) {
    if (runtime.id === takerId) continue;
    const verdict = deadVerdict(runtime, now, host);
    if (verdict === null) continue;
    const ids = await store.takeOverRuntime({ deadId: runtime.id, heartbeatAt: runtime.heartbeatAt, takerId, now, reason: verdict });
    if (ids === null) continue;
    events.emit('runtime.took-over', { runtimeId: runtime.id, actors: ids.length, reason: verdict });
    moved.push(...ids);
  }
  const records: ActorRecord[] = [];
  for (const id of moved) {
    const record = await store.getActor(id);
    if (record !== undefined) records.push(record);
  }
  return records;
}
