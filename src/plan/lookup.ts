import type { MilestoneSpec, Plan, UnitSpec } from './types.js';

/** A plan's units and milestones by id. */
interface PlanIndex {
  readonly units: ReadonlyMap<string, UnitSpec>;
  readonly milestones: ReadonlyMap<string, MilestoneSpec>;
}

/** Built once per plan object: a plan is never changed in place (extending one makes a new one). */
const indexes = new WeakMap<Plan, PlanIndex>();

function indexOf(plan: Plan): PlanIndex {
  let index = indexes.get(plan);
  if (index === undefined) {
    index = {
      units: new Map(plan.milestones.flatMap((milestone) => milestone.units.map((unit) => [unit.id, unit] as const))),
      milestones: new Map(plan.milestones.map((milestone) => [milestone.id, milestone] as const)),
    };
    indexes.set(plan, index);
  }
  return index;
}

/**
 * The unit `id` of `plan`, or `undefined` when the plan has none. Constant time after the first
 * call for a plan (a scheduler pass looks units up per worker: a search of the plan each time
 * made a pass cost workers × units).
 */
export function unitOf(plan: Plan, id: string): UnitSpec | undefined {
  return indexOf(plan).units.get(id);
}

/** The milestone `id` of `plan`, or `undefined` when the plan has none (constant time, as {@link unitOf}). */
export function milestoneOf(plan: Plan, id: string): MilestoneSpec | undefined {
  return indexOf(plan).milestones.get(id);
}

/** Every unit of `plan`, in plan order (milestone by milestone). */
export function unitsOf(plan: Plan): Iterable<UnitSpec> {
  return indexOf(plan).units.values();
}
