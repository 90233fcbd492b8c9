import { dispatchMachine } from '../machines/dispatch.js';
import { leaseMachine } from '../machines/lease.js';
import { workerMachine } from '../machines/worker.js';
import { createDeadline } from '../actors/deadline.js';
import type { EffectContext } from '../actors/effectContext.js';
import { createLeaseEffects } from '../actors/leaseEffects.js';
import { createWorkerEffects } from '../actors/workerEffects.js';

export type { EffectContext };

/** The worker statechart with the runtime's effects (see `actors/workerEffects.ts`). */
export function provideWorker(effects: EffectContext) {
  return workerMachine.provide({ actors: createWorkerEffects(effects) });
}

/** The lease statechart with the store-backed claim, renewal and release (see `actors/leaseEffects.ts`). */
export function provideLease(effects: EffectContext) {
  return leaseMachine.provide({ actors: createLeaseEffects(effects) });
}

/** The dispatch statechart with its durable retry backoff (see `actors/deadline.ts`). */
export function provideDispatch(effects: EffectContext) {
  return dispatchMachine.provide({ actors: createDeadline(effects.clock) });
}
