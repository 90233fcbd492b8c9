import type { Store } from '../../persistence/store.js';
import type { JsonAnswer } from './actionRoutes.js';
import { createDerivedCache } from './derivedCache.js';
import { readFleet } from './fleetData.js';
import { createPlanGraphCache } from './planGraph.js';
import { readConversation, readMilestoneUnits, readTurnLog, readUnitDetail } from './unitData.js';

/** Rows per page of a milestone's unit list, unless the page asks for fewer (at most 1,000). */
export const UNITS_PAGE = 200;

/**
 * The fleet view's JSON routes (GET):
 * - `/api/fleet`: {@link readFleet} — milestones with state, units done/total, cost and
 *   workspace; unit counts; runtimes with heartbeat age; whether paused.
 * - `/api/plan-graph`: the plan's milestones laid out by ELK (cached per plan shape).
 * - `/api/milestones/:id/units?offset=&limit=`: one page of a milestone's units.
 * - `/api/units/:id`: a unit with its turns and messages.
 * - `/api/dispatches/:id/log?from=`: a turn's stored log from byte `from`.
 * - `/api/dispatches/:id/conversation`: a turn's agent events as a conversation.
 * Ids are URL-encoded path segments (unit ids hold `/`, dispatch ids `#`).
 * @returns `undefined` for a path that is none of these.
 */
export interface FleetRoutes {
  /** Answers a fleet route, or `undefined` for a path that is not one. */
  (url: URL): Promise<JsonAnswer | undefined>;
  /**
   * Reads the store and lays out the plan graph ahead of the first page (ELK takes about 0.5 s
   * for 256 milestones on a 2-core VM); the first request shares what is in flight.
   */
  warm(): Promise<void>;
}

export function createFleetRoutes(store: Store, now: () => number): FleetRoutes {
  const graphs = createPlanGraphCache();
  const derived = createDerivedCache(store);
  const notFound = (what: string): JsonAnswer => ({ status: 404, body: { error: `no ${what} in the store` } });
  const ok = (body: unknown): JsonAnswer => ({ status: 200, body });
  const route = async (url: URL): Promise<JsonAnswer | undefined> => {
    const segments = url.pathname.split('/').slice(1).map(decodeURIComponent);
    const [api, kind, id, sub] = segments;
    if (api !== 'api' || segments.length > 4) return undefined;
    if (kind === 'fleet' && id === undefined) return ok(await readFleet(store, await derived(), now()));
    if (kind === 'plan-graph' && id === undefined) {
      const { plan } = await derived();
      if (plan === undefined) return notFound('plan');
      return ok(await graphs(plan.milestones.map((m) => ({ id: m.id, dependsOn: m.dependsOn }))));
    }
    if (id === undefined) return undefined;
    if (kind === 'milestones' && sub === 'units') {
      const offset = wholeNumber(url.searchParams.get('offset'), 0);
      const limit = Math.min(1_000, wholeNumber(url.searchParams.get('limit'), UNITS_PAGE));
      const page = readMilestoneUnits(await derived(), id, offset, limit);
      return page === undefined ? notFound(`milestone ${id}`) : ok({ milestoneId: id, offset, ...page });
    }
    if (kind === 'units' && sub === undefined) {
      const detail = await readUnitDetail(store, await derived(), id);
      return detail === undefined ? notFound(`unit ${id}`) : ok(detail);
    }
    if (kind === 'dispatches' && sub === 'log') return ok(await readTurnLog(store, id, wholeNumber(url.searchParams.get('from'), 0)));
    if (kind === 'dispatches' && sub === 'conversation') return ok(await readConversation(store, id));
    return undefined;
  };
  const warm = async (): Promise<void> => {
    const { plan } = await derived();
    if (plan !== undefined) await graphs(plan.milestones.map((m) => ({ id: m.id, dependsOn: m.dependsOn })));
  };
  return Object.assign(route, { warm });
}

function wholeNumber(text: string | null, fallback: number): number {
  const value = Number(text ?? '');
  return text !== null && Number.isSafeInteger(value) && value >= 0 ? value : fallback;
}
