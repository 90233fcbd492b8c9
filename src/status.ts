import { z } from 'zod';
import type { Store } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';
import { StoreCorruptError } from '../core/errors.js';
import type { Plan } from './plan/types.js';
import { readOperatorInput } from './operatorInput.js';
import { deriveProgress, type MilestoneState, type UnitState } from './progress.js';

/** The store's view of a run, as printed by `statecrew status --json`. Times are ISO-8601 strings or null. */
export interface StatusReport {
  readonly milestones: { id: string; state: MilestoneState }[];
  /** `costUsd`, `inputTokens`, `outputTokens`: summed over the unit's turns that reported them (stream-json), else null. */
  readonly units: {
    id: string;
    milestoneId: string;
    state: UnitState;
    attempts: number;
    costUsd: number | null;
    inputTokens: number | null;
    outputTokens: number | null;
  }[];
  readonly dispatches: {
    id: string;
    unitId: string;
    attempt: number;
    state: string;
    workerId: string | null;
    fencingToken: number | null;
    startedAt: string | null;
    endedAt: string | null;
    reason: string | null;
  }[];
  readonly leases: { milestoneId: string; workerId: string; fencingToken: number | null; state: string }[];
  readonly workers: { id: string; state: string }[];
}

const storedPlan = z.object({
  file: z.string(),
  version: z.literal(1),
  workers: z.number(),
  store: z.string(),
  milestones: z.array(
    z.object({
      id: z.string(),
      position: z.number(),
      dependsOn: z.array(z.string()),
      units: z.array(z.object({ id: z.string(), milestoneId: z.string(), maxAttempts: z.number() }).loose()),
    }),
  ),
});

/**
 * Reads the plan recorded in the store.
 * @throws StoreCorruptError when the recorded plan is not valid JSON of a plan.
 */
export function readStoredPlan(store: Store): Plan | undefined {
  const record = store.loadPlan();
  if (record === undefined) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    throw new StoreCorruptError('the plan recorded in the store is not JSON', { cause: error });
  }
  const parsed = storedPlan.safeParse(body);
  if (!parsed.success) {
    throw new StoreCorruptError(`the plan recorded in the store is invalid: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return body as Plan;
}

/** Builds the status report from the store's projections and the recorded plan. */
export function readStatus(store: Store): StatusReport {
  const plan = readStoredPlan(store);
  const dispatches = store.listDispatches();
  const leases = store.listLeases();
  const progress = plan === undefined ? undefined : deriveProgress(plan, dispatches, leases, readOperatorInput(store));
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    milestones: (progress?.milestones ?? []).map((m) => ({ id: m.spec.id, state: m.state })),
    units: (progress?.milestones ?? []).flatMap((m) =>
      m.units.map((u) => ({
        id: u.spec.id,
        milestoneId: u.spec.milestoneId,
        state: u.state,
        attempts: u.attempts,
        ...usageOf(dispatches.filter((d) => d.unitId === u.spec.id)),
      })),
    ),
    dispatches: dispatches.map((d) => ({
      id: d.id,
      unitId: d.unitId,
      attempt: d.attempt,
      state: d.state,
      workerId: d.workerId,
      fencingToken: d.fencingToken,
      startedAt: iso(d.startedAt),
      endedAt: iso(d.endedAt),
      reason: d.reason,
    })),
    leases: leases.map((l) => ({ milestoneId: l.milestoneId, workerId: l.workerId, fencingToken: l.fencingToken, state: l.state })),
    workers: store.listWorkers().map((w) => ({ id: w.id, state: w.state })),
  };
}

function usageOf(dispatches: readonly DispatchProjection[]): { costUsd: number | null; inputTokens: number | null; outputTokens: number | null } {
  const sum = (values: (number | null)[]): number | null =>
    values.some((value) => value !== null) ? values.reduce<number>((total, value) => total + (value ?? 0), 0) : null;
  return {
    costUsd: sum(dispatches.map((d) => d.costUsd)),
    inputTokens: sum(dispatches.map((d) => d.inputTokens)),
    outputTokens: sum(dispatches.map((d) => d.outputTokens)),
  };
}
