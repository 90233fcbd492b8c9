import type { Store } from '../persistence/store.js';
import type { DispatchProjection } from '../persistence/types.js';
import { parseResultEvent, roundUsd } from '../actors/streamJson.js';
import { readStoredPlan } from './storedPlan.js';
import { readOperatorInput } from './operatorInput.js';
import { deriveProgress, type MilestoneState, type UnitProgress, type UnitState } from './progress.js';
import { agentOf, rateLimitedAgents } from './rateLimits.js';

/** The store's view of a run, as printed by `statecrew status --json`. Times are ISO-8601 strings or null. */
/** A milestone's workspace in {@link StatusReport}: commits are full hex ids. */
export interface WorkspaceStatus {
  readonly path: string;
  readonly branch: string;
  readonly base: string;
  readonly baseCommit: string | null;
  readonly headCommit: string | null;
  /** The workspace actor's state (`ready`, `merging`, `removed`, `check_failed`, …). */
  readonly state: string;
  readonly mergedCommit: string | null;
  /** Why the check failed, the merge conflicted or the workspace failed. */
  readonly reason: string | null;
  readonly fixTurnsUsed: number;
}

export interface StatusReport {
  /**
   * `workspace`: `null` for a milestone without one, or before its first lease. `spentUsd`: what
   * its units' turns cost (USD); `failure`: why it failed when no unit says it (a budget).
   */
  readonly milestones: { id: string; state: MilestoneState; workspace: WorkspaceStatus | null; spentUsd: number; failure: string | null }[];
  /** Every budget of the plan (`maxCostUsd`) with its spend in USD. */
  readonly budgets: { scope: 'plan' | 'milestone' | 'unit'; id: string; maxCostUsd: number; spentUsd: number; exceeded: boolean }[];
  /**
   * `attempts`: the attempt number of the unit's latest turn (tries it took, counted against
   * `maxAttempts`); `turns`: every turn that ran (retries, message and fix turns included).
   * `costUsd` (USD, each turn's own cost, rounded to 1e-10), `inputTokens`, `outputTokens`:
   * summed over the unit's turns that reported them (stream-json), else null. `sessionId`: the
   * agent session the unit's latest turn reported (the next turn resumes it), else null;
   * `resumeMismatches`: turns that were told to resume a session and reported another one;
   * `permissionDenials`: tools the CLI denied in the unit's turns, with the dispatch.
   * `waiting`: why a unit that is not done waits although it could run, e.g.
   * `rate limited until 2026-12-03T04:00:00.000Z` (its own turn, or another unit's of the same
   * agent, was rate limited), `API overloaded, retrying at …` or `API server error, retrying at …`;
   * else null.
   */
  readonly units: {
    id: string;
    milestoneId: string;
    state: UnitState;
    attempts: number;
    turns: number;
    costUsd: number | null;
    inputTokens: number | null;
    outputTokens: number | null;
    sessionId: string | null;
    resumeMismatches: number;
    permissionDenials: { dispatchId: string; tool: string; target: string | null }[];
    waiting: string | null;
    /** Why the unit failed when no dispatch says it: its budget. */
    failure: string | null;
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

/**
 * Builds the status report from the store's projections and the recorded plan.
 * @param now what `waiting` is judged against (ms since epoch). @default Date.now()
 */
export async function readStatus(store: Store, now: number = Date.now()): Promise<StatusReport> {
  const plan = await readStoredPlan(store);
  const dispatches = await store.listDispatches();
  const leases = await store.listLeases();
  const workspaces = await store.listWorkspaces();
  const progress = plan === undefined ? undefined : deriveProgress(plan, dispatches, leases, await readOperatorInput(store), workspaces);
  const workers = await store.listWorkers();
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const held = plan === undefined ? new Map<string, number>() : rateLimitedAgents(plan, dispatches, now);
  // Grouped once: filtering every dispatch for every unit made a report of 5,000 units quadratic.
  const byUnit = new Map<string, DispatchProjection[]>();
  for (const dispatch of dispatches) {
    const list = byUnit.get(dispatch.unitId);
    if (list === undefined) byUnit.set(dispatch.unitId, [dispatch]);
    else list.push(dispatch);
  }
  return {
    milestones: (progress?.milestones ?? []).map((m) => ({
      id: m.spec.id,
      state: m.state,
      workspace:
        m.workspace === null
          ? null
          : {
              path: m.workspace.path,
              branch: m.workspace.branch,
              base: m.workspace.base,
              baseCommit: m.workspace.baseCommit,
              headCommit: m.workspace.head,
              state: m.workspace.state,
              mergedCommit: m.workspace.mergedCommit,
              reason: m.workspace.reason,
              fixTurnsUsed: m.workspace.fixTurnsUsed,
            },
      spentUsd: m.units.reduce((total, unit) => roundUsd(total + unit.spentUsd), 0),
      failure: m.failure,
    })),
    budgets: (progress?.budgets ?? []).map((budget) => ({ ...budget })),
    units: await Promise.all((progress?.milestones ?? []).flatMap((m) =>
      m.units.map(async (u) => {
        const own = byUnit.get(u.spec.id) ?? [];
        return {
          id: u.spec.id,
          milestoneId: u.spec.milestoneId,
          state: u.state,
          attempts: u.attempts,
          turns: u.turns,
          ...usageOf(own),
          sessionId: own.filter((d) => d.sessionId !== null).at(-1)?.sessionId ?? null,
          resumeMismatches: own.filter((d) => d.resumeMismatch).length,
          permissionDenials: await deniedTools(store, own),
          waiting: waitingFor(u, held, now),
          failure: u.failure,
        };
      }),
    )),
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
  const cost = sum(dispatches.map((d) => d.costUsd));
  return {
    costUsd: cost === null ? null : roundUsd(cost),
    inputTokens: sum(dispatches.map((d) => d.inputTokens)),
    outputTokens: sum(dispatches.map((d) => d.outputTokens)),
  };
}

/** Tools the CLI denied in these dispatches' turns, from each one's recorded `result` event (stream-json turns only). */
async function deniedTools(store: Store, dispatches: readonly DispatchProjection[]): Promise<{ dispatchId: string; tool: string; target: string | null }[]> {
  const denied: { dispatchId: string; tool: string; target: string | null }[] = [];
  for (const dispatch of dispatches) {
    if (dispatch.sessionId === null) continue;
    const result = (await store.turnEvents(dispatch.id)).filter((event) => event.type === 'result').at(-1);
    const parsed = result === undefined ? null : parseResultEvent(result.body);
    for (const denial of parsed?.permissionDenials ?? []) denied.push({ dispatchId: dispatch.id, tool: denial.toolName, target: denial.target });
  }
  return denied;
}

/** Why a unit waits for the API (see `StatusReport.units[].waiting`), or `null`. */
function waitingFor(unit: UnitProgress, held: ReadonlyMap<string, number>, now: number): string | null {
  if (unit.state !== 'pending' && unit.state !== 'running') return null;
  const next = unit.active?.state === 'pending' ? (unit.active.notBefore ?? 0) : 0;
  const streak = unit.transient;
  if (streak !== null && next > now) {
    const at = new Date(next).toISOString();
    if (streak.last.transient === 'rate_limited') return `rate limited until ${at}`;
    return `${streak.last.transient === 'overloaded' ? 'API overloaded' : 'API server error'}, retrying at ${at}`;
  }
  const agent = agentOf(unit.spec);
  const until = held.get(agent);
  return until === undefined ? null : `rate limited until ${new Date(until).toISOString()} (agent ${agent})`;
}
