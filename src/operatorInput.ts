import type { Store } from '../persistence/store.js';
import type { MessageRecord } from '../persistence/types.js';
import type { OperatorInput } from './progress.js';

/** Reads the operator's cancellations and messages from the store, for `deriveProgress`. */
export async function readOperatorInput(store: Store): Promise<OperatorInput> {
  return operatorInput(await store.listCanceledUnits(), await store.listMessages());
}

/** The operator input from rows already read (a scheduler view). */
export function operatorInput(canceled: readonly { unitId: string; reason: string }[], messages: readonly MessageRecord[]): OperatorInput {
  return { canceled: new Map(canceled.map((unit) => [unit.unitId, unit.reason] as const)), messages };
}
