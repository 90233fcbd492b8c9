import type { Store } from '../persistence/store.js';
import type { OperatorInput } from './progress.js';

/** Reads the operator's cancellations and messages from the store, for `deriveProgress`. */
export function readOperatorInput(store: Store): OperatorInput {
  return {
    canceled: new Map(store.listCanceledUnits().map((unit) => [unit.unitId, unit.reason] as const)),
    messages: store.listMessages(),
  };
}
