import Database from 'better-sqlite3';
import { z } from 'zod';
import pg from 'pg';
import { openStoreAt, storeFromDatabase, storeFromPool } from '../persistence/openStore.js';
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

export function openStore(store: string | Store | Database.Database | pg.Pool, durability: RuntimeOptions['durability']): Store {
  if (typeof store === 'string') return openStoreAt(store, durability === undefined ? {} : { durability });
  if (store instanceof Database) return storeFromDatabase(store, durability === undefined ? {} : { durability });
  if (store instanceof pg.Pool) return storeFromPool(store);
  return store;
}

/** The plan of a host that starts without one and finds none recorded: nothing to do until it submits units. */
export function emptyPlan(location: string): Plan {
  return { file: '<inline>', version: 1, workers: 2, store: location, milestones: [] };
}
