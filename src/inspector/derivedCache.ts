import type { Store } from '../../persistence/store.js';
import type { Plan } from '../plan/types.js';
import { readOperatorInput } from '../operatorInput.js';
import { deriveProgress, type Progress } from '../progress.js';
import { readStoredPlan } from '../storedPlan.js';

/** The stored plan and the progress derived from the store, as of one {@link Store.changeCounter} value. */
export interface DerivedStore {
  readonly version: number;
  /** `undefined` when no plan is recorded yet. */
  readonly plan: Plan | undefined;
  readonly progress: Progress | undefined;
}

/**
 * The inspector's derivation of progress, done once per store version: a page's refresh asks
 * for the fleet, a milestone's units and a unit, and every open page asks after each commit;
 * all of them share one read of the plan and the projections (at 5,000 units the dispatch rows
 * alone take tens of ms to read) while nothing was committed in between. Concurrent callers
 * share the read in flight.
 */
export function createDerivedCache(store: Store): () => Promise<DerivedStore> {
  let last: { version: number; derived: Promise<DerivedStore> } | undefined;
  return async () => {
    const version = await store.changeCounter();
    if (last?.version !== version) {
      const entry = { version, derived: derive(store, version) };
      // A failed read is reported to its callers and done again by the next one.
      void entry.derived.then(undefined, () => {
        if (last === entry) last = undefined;
      });
      last = entry;
    }
    return last.derived;
  };
}

async function derive(store: Store, version: number): Promise<DerivedStore> {
  const plan = await readStoredPlan(store);
  if (plan === undefined) return { version, plan, progress: undefined };
  const progress = deriveProgress(plan, await store.listDispatches(), await store.listLeases(), await readOperatorInput(store), await store.listWorkspaces());
  return { version, plan, progress };
}
