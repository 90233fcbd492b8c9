import type { Store } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';
import { readStoredPlan } from './storedPlan.js';
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

/** Builds the status report from the store's projections and the recorded plan. */
export async function readStatus(store: Store): Promise<StatusReport> {
  const plan = await readStoredPlan(store);
  const dispatches = await store.listDispatches();
  const leases = await store.listLeases();
  const progress = plan === undefined ? undefined : deriveProgress(plan, dispatches, leases, await readOperatorInput(store));
  const workers = await store.listWorkers();
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
    workers: workers.map((w) => ({ id: w.id, state: w.state })),
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
