/**
 * Fleet-wide rate limits of agents. When a turn of one unit is rate limited and the API gave
 * a reset time (a rejected `rate_limit_event`'s `resetsAt`), no new turn of any unit billed to
 * the same agent starts before that time, on any runtime sharing the store: each runtime reads
 * the same dispatch rows, so a fleet does not hammer a limited account.
 */
import path from 'node:path';
import type { DispatchProjection } from '../persistence/types.js';
import { unitOf } from './plan/lookup.js';
import type { Plan, UnitSpec } from './plan/types.js';

/** The agent a unit's turns are billed to: its `agent` key, else its program's basename (plans recorded before units had one). */
export function agentOf(spec: UnitSpec): string {
  return spec.agent !== '' ? spec.agent : path.basename(spec.command[0] ?? '');
}

/**
 * When each agent's rate limit resets (ms since epoch), for the agents still limited at `now`:
 * the latest `retryAt` among dispatches that failed `rate_limited` with a reset time.
 */
export function rateLimitedAgents(plan: Plan, dispatches: readonly DispatchProjection[], now: number): Map<string, number> {
  const held = new Map<string, number>();
  for (const dispatch of dispatches) {
    if (dispatch.transient !== 'rate_limited' || dispatch.retryAt === null || dispatch.retryAt <= now) continue;
    const unit = unitOf(plan, dispatch.unitId);
    if (unit === undefined) continue;
    const agent = agentOf(unit);
    held.set(agent, Math.max(held.get(agent) ?? 0, dispatch.retryAt));
  }
  return held;
}
