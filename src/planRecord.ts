import type { Emitter } from 'mitt';
import { redactUrl } from '../persistence/openStore.js';
import type { Store } from '../persistence/store.js';
import type { RuntimeEvents } from './events.js';
import { planFingerprint } from './plan/load.js';
import { parseStoredPlan } from './storedPlan.js';
import type { Plan } from './plan/types.js';

/**
 * Records `plan` as the store's plan. When it differs from the one recorded before, emits
 * `plan.changed` with the unit ids added, removed and changed (units are matched by id; a
 * completed unit stays completed whatever changed).
 */
export async function recordPlan(store: Store, given: Plan, now: number, events: Emitter<RuntimeEvents>): Promise<void> {
  // A PostgreSQL URL's password is never recorded (nor anything derived from it).
  const plan: Plan = { ...given, store: redactUrl(given.store) };
  const previous = await store.loadPlan();
  const fingerprint = planFingerprint(plan);
  if (previous !== undefined && previous.fingerprint !== fingerprint) {
    const units = (p: Plan) => new Map(p.milestones.flatMap((m) => m.units.map((u) => [u.id, JSON.stringify(u)] as const)));
    const before = units(parseStoredPlan(previous));
    const after = units(plan);
    events.emit('plan.changed', {
      added: [...after.keys()].filter((id) => !before.has(id)),
      removed: [...before.keys()].filter((id) => !after.has(id)),
      changed: [...after.keys()].filter((id) => before.has(id) && before.get(id) !== after.get(id)),
    });
  }
  await store.savePlan({ file: plan.file, fingerprint, body: JSON.stringify(plan), savedAt: now });
}
