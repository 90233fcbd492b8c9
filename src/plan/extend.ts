import path from 'node:path';
import type { z } from 'zod';
import { PlanError } from '../../core/errors.js';
import { resolvePlan, validatePlanDocument } from './load.js';
import type { planDocumentSchema } from './schema.js';
import type { MilestoneSpec, Plan } from './types.js';

/**
 * A plan as an object: the YAML plan file's shape (`version`, `workers`, `store`, `defaults`,
 * `agents`, `milestones`), durations as strings such as `30s`. Validated with the same zod
 * schema as the file.
 */
export type PlanInput = z.input<typeof planDocumentSchema>;

/**
 * Work added to a running plan: milestones in the plan file's shape, with optional
 * `defaults` and `agents` that apply to these units only. A milestone already in the plan
 * receives the units (run after its existing ones); a new milestone is appended and may
 * depend on any milestone.
 */
export type PlanAddition = Omit<PlanInput, 'version' | 'workers' | 'store'> & { readonly version?: 1 };

/** Options of {@link planFromObject} and {@link extendPlan}. */
export interface PlanObjectOptions {
  /** Folder against which the plan's `store` and unit `cwd`s resolve. */
  readonly cwd: string;
  /** Label naming the plan in errors and in the store. @default '<inline>' */
  readonly file?: string;
}

/**
 * Validates a plan given as an object — exactly as a plan file's YAML would be — and resolves
 * it into a {@link Plan}. The input is checked at run time whatever its static type, so
 * untrusted JSON (a request body) may be passed in.
 * @throws {PlanError} listing every issue with its field path (`milestones[0].units[1].command`).
 */
export function planFromObject(input: PlanInput, options: PlanObjectOptions): Plan {
  const file = path.resolve(options.cwd, options.file ?? '<inline>');
  return resolvePlan(validatePlanDocument(input, file), file, path.resolve(options.cwd));
}

/**
 * Adds milestones and units to `base` (see {@link PlanAddition}); `base` is not changed.
 * @returns the extended plan and the ids of the units added, in plan order.
 * @throws {PlanError} when the addition is invalid, reuses a unit id of the plan, changes an
 *   existing milestone's dependencies, names an unknown milestone, or sets `workers`/`store`
 *   (they belong to the runtime). Nothing is added then.
 */
export function extendPlan(base: Plan, addition: PlanAddition, options: PlanObjectOptions): { plan: Plan; added: string[] } {
  const file = path.resolve(options.cwd, options.file ?? '<inline>');
  const raw: unknown = addition;
  if (typeof raw === 'object' && raw !== null && !Array.isArray(raw)) {
    const owned = ['workers', 'store'].filter((key) => key in raw);
    if (owned.length > 0) {
      throw new PlanError(
        file,
        owned.map((key) => ({ path: key, message: `${key} belongs to the running plan and cannot be set by an addition; leave it out` })),
      );
    }
  }
  const document = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !('version' in raw) ? { version: 1, ...raw } : raw;
  const existing = {
    milestones: new Map(base.milestones.map((milestone) => [milestone.id, milestone.dependsOn] as const)),
    unitIds: new Set(base.milestones.flatMap((milestone) => milestone.units.map((unit) => unit.id))),
  };
  const added = resolvePlan(validatePlanDocument(document, file, existing), file, path.resolve(options.cwd));
  const milestones: MilestoneSpec[] = [...base.milestones];
  for (const milestone of added.milestones) {
    const index = milestones.findIndex((candidate) => candidate.id === milestone.id);
    const current = milestones[index];
    if (current === undefined) {
      milestones.push({ ...milestone, position: milestones.length });
    } else {
      const units = milestone.units.map((unit, offset) => ({ ...unit, position: current.units.length + offset }));
      milestones[index] = { ...current, units: [...current.units, ...units] };
    }
  }
  return {
    plan: { ...base, milestones },
    added: added.milestones.flatMap((milestone) => milestone.units.map((unit) => unit.id)),
  };
}
