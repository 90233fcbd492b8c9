import Database from 'better-sqlite3';
import { z } from 'zod';
import { SqliteStore } from '../persistence/sqliteStore.js';
import type { Store } from '../persistence/store.js';
import type { Plan } from './plan/types.js';
import type { RuntimeOptions } from './runtime.js';

/** What a host hands the runtime — a store, events, a plan — checked and normalised. @internal */

/**
 * Events a host may send: an object with a string `type` that is not one of XState's own
 * (`xstate.*`), JSON-safe so that it can be persisted with the transition it causes.
 */
export const externalEvent = z.looseObject({
  type: z
    .string()
    .min(1)
    .refine((type) => !type.startsWith('xstate.'), { error: 'xstate.* events are XState internals and cannot be sent' }),
});

export function openStore(store: string | Store | Database.Database, durability: RuntimeOptions['durability']): Store {
  if (typeof store === 'string') return SqliteStore.fromPath(store, durability === undefined ? {} : { durability });
  if (store instanceof Database) return new SqliteStore(store, durability === undefined ? {} : { durability });
  return store;
}

/** The plan a store recorded last, for a host that starts without one. */
export function storedPlan(store: Store): Plan | undefined {
  const record = store.loadPlan();
  return record === undefined ? undefined : (JSON.parse(record.body) as Plan);
}

export function emptyPlan(store: Store): Plan {
  return { file: '<inline>', version: 1, workers: 2, store: store instanceof SqliteStore ? store.db.name : '<store>', milestones: [] };
}
