/** The crash fuzzer's checks of the journal, the projection and the tick log (see harness.ts). */
import fs from 'node:fs';
import type { Store } from '../../persistence/store.js';
import type { DispatchProjection } from '../../persistence/types.js';
import { executionSpans, overlaps, type Tick } from '../helpers/ticks.js';
import type { PlannedMilestone } from './plan.js';
import { openStoreIfReady } from './processes.js';

// ---------------------------------------------------------------------------------------------
// Checks

export const FINAL_DISPATCH = new Set(['completed', 'failed', 'stuck', 'canceled', 'quarantined']);
export const ACTIVE_DISPATCH = new Set(['pending', 'claimed', 'running']);
export const FENCED_DISPATCH = new Set(['claimed', 'running', 'completed']);

export const top = (state: string): string => state.split('.')[0] ?? state;

/** One journal row of a lease or dispatch actor, with the context of its snapshot. */
export interface Row {
  readonly actorId: string;
  readonly seq: number;
  readonly eventType: string;
  readonly fromState: string | null;
  readonly toState: string;
  readonly at: number;
  readonly context: Record<string, unknown>;
}

export interface Grant {
  readonly leaseId: string;
  readonly milestoneId: string;
  readonly workerId: string;
  readonly token: number;
  readonly heldAt: number;
}

export function formatRow(row: Row): string {
  const token = row.context.fencingToken;
  const worker = row.context.workerId;
  const reason = row.context.endReason;
  return `${row.actorId} #${row.seq} at ${row.at} ${row.eventType}: ${row.fromState ?? '∅'} → ${row.toState}` +
    `${worker === undefined ? '' : ` worker=${JSON.stringify(worker)}`}${token === undefined ? '' : ` token=${JSON.stringify(token)}`}` +
    `${typeof reason === 'string' ? ` reason=${JSON.stringify(reason)}` : ''}`;
}

export async function readRows(store: Store, kind: 'lease' | 'dispatch'): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const record of store.queryJournal({ kind, snapshots: true })) {
    const snapshot = JSON.parse(record.snapshot ?? '{}') as { context?: Record<string, unknown> };
    rows.push({
      actorId: record.actorId,
      seq: record.seq,
      eventType: record.eventType,
      fromState: record.fromState,
      toState: record.toState,
      at: record.at,
      context: snapshot.context ?? {},
    });
  }
  return rows;
}

export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = groups.get(k);
    if (list === undefined) groups.set(k, [item]);
    else list.push(item);
  }
  return groups;
}

export const dispatchNumber = (id: string): number => Number(id.slice(id.lastIndexOf('#') + 1));

/** A dispatch's life in the journal: from its creation row to its first final row (`null`: not final yet). */
export interface DispatchLife {
  readonly id: string;
  readonly createdAt: number;
  /** When it was claimed, by whom, under which token (`null`: never claimed). */
  readonly claimedAt: number | null;
  readonly claimToken: number | null;
  readonly endedAt: number | null;
  readonly completedAt: number | null;
  readonly rows: Row[];
}

export interface StoreFacts {
  readonly grants: Grant[];
  /** Per unit, its dispatches in creation order. */
  readonly dispatches: ReadonlyMap<string, readonly DispatchLife[]>;
  readonly journalRows: number;
}

/** Checks 1–3 over the whole journal and the dispatch projection. */
export async function checkJournal(store: Store, final: boolean, violations: string[]): Promise<StoreFacts> {
  // The journal is read in pages while runtimes keep committing: read the dispatches first,
  // then the leases, so every claim read has the lease grant it was made under (committed
  // before it) in what is read after it.
  const dispatchRows = await readRows(store, 'dispatch');
  const projection = await store.listDispatches();
  const leaseRows = await readRows(store, 'lease');
  const history: History = { leaseRows, dispatchRows, projection };
  return { ...checkHistory(history, final, violations), journalRows: await store.journalSize() };
}

/** What checks 1–3 read: the journal rows of lease and dispatch actors and the dispatch projection. */
export interface History {
  readonly leaseRows: readonly Row[];
  readonly dispatchRows: readonly Row[];
  readonly projection: readonly Pick<DispatchProjection, 'id' | 'unitId' | 'state'>[];
}

/** Checks 1–3 over a journal; pushes one line per violation. `final`: the run is over, nothing may be active. */
export function checkHistory(history: History, final: boolean, violations: string[]): Omit<StoreFacts, 'journalRows'> {
  const { leaseRows, dispatchRows, projection } = history;

  // 1. One holder: tokens of the lease actors that reached `held`, per milestone.
  const grants: Grant[] = [];
  for (const [leaseId, rows] of groupBy(leaseRows, (r) => r.actorId)) {
    const held = rows.filter((r) => top(r.toState) === 'held');
    if (held.length === 0) continue;
    const tokens = new Set(held.map((r) => r.context.fencingToken));
    const [token] = tokens;
    if (tokens.size !== 1 || typeof token !== 'number') {
      violations.push(`[1 one holder] lease ${leaseId} was held under several or no tokens: ${[...tokens].map(String).join(', ')}\n    ${held.map(formatRow).join('\n    ')}`);
      continue;
    }
    const first = held[0]!;
    grants.push({ leaseId, milestoneId: String(first.context.milestoneId), workerId: String(first.context.workerId), token, heldAt: first.at });
  }
  const grantsByMilestone = groupBy(grants, (g) => g.milestoneId);
  for (const [milestoneId, list] of grantsByMilestone) {
    list.sort((a, b) => a.heldAt - b.heldAt || a.token - b.token);
    const byToken = new Map<number, Grant>();
    for (const grant of list) {
      const other = byToken.get(grant.token);
      if (other !== undefined) {
        violations.push(`[1 one holder] milestone ${milestoneId}: leases ${other.leaseId} (${other.workerId}, held at ${other.heldAt}) and ${grant.leaseId} (${grant.workerId}, held at ${grant.heldAt}) both hold fencing token ${grant.token}`);
      }
      byToken.set(grant.token, grant);
    }
    for (let i = 1; i < list.length; i++) {
      const previous = list[i - 1]!;
      const current = list[i]!;
      if (current.token < previous.token) {
        violations.push(`[1 one holder] milestone ${milestoneId}: token ${current.token} (${current.leaseId}, held at ${current.heldAt}) came after token ${previous.token} (${previous.leaseId}, held at ${previous.heldAt}): not strictly increasing`);
      }
    }
  }

  // 2. One active dispatch per unit: never created while an earlier one is not final.
  const dispatchesByUnit = new Map<string, DispatchLife[]>();
  for (const [dispatchId, rows] of groupBy(dispatchRows, (r) => r.actorId)) {
    rows.sort((a, b) => a.seq - b.seq);
    const first = rows[0]!;
    if (first.seq !== 1 || first.eventType !== 'xstate.init') {
      violations.push(`[2 one active dispatch] journal of ${dispatchId} does not start with its creation: ${formatRow(first)}`);
    }
    const end = rows.find((r) => FINAL_DISPATCH.has(top(r.toState)));
    const unitId = String(first.context.unitId);
    const list = dispatchesByUnit.get(unitId) ?? [];
    const completed = rows.find((r) => top(r.toState) === 'completed');
    const claimed = rows.find((r) => top(r.toState) === 'claimed' || top(r.toState) === 'running');
    const claimToken = claimed?.context.fencingToken;
    list.push({
      id: dispatchId,
      createdAt: first.at,
      claimedAt: claimed?.at ?? null,
      claimToken: typeof claimToken === 'number' ? claimToken : null,
      endedAt: end?.at ?? null,
      completedAt: completed?.at ?? null,
      rows,
    });
    dispatchesByUnit.set(unitId, list);
    if (final && end === undefined) violations.push(`[2 one active dispatch] ${dispatchId} never reached a final state: last row ${formatRow(rows.at(-1)!)}`);
  }
  for (const [unitId, list] of dispatchesByUnit) {
    list.sort((a, b) => a.createdAt - b.createdAt || dispatchNumber(a.id) - dispatchNumber(b.id));
    for (let k = 1; k < list.length; k++) {
      const current = list[k]!;
      for (let j = 0; j < k; j++) {
        const earlier = list[j]!;
        if (earlier.endedAt === null || earlier.endedAt > current.createdAt) {
          violations.push(
            `[2 one active dispatch] unit ${unitId}: ${current.id} was created at ${current.createdAt} while ${earlier.id} was still active (${earlier.endedAt === null ? 'never final' : `final at ${earlier.endedAt}`})\n    ` +
              [...earlier.rows, ...current.rows].map(formatRow).join('\n    '),
          );
        }
      }
    }
  }
  for (const [unitId, list] of groupBy(projection, (d) => d.unitId)) {
    const active = list.filter((d) => ACTIVE_DISPATCH.has(d.state));
    if (active.length > 1) violations.push(`[2 one active dispatch] unit ${unitId} has ${active.length} active dispatches in the projection: ${active.map((d) => `${d.id} ${d.state}`).join(', ')}`);
    if (final && active.length > 0) violations.push(`[2 one active dispatch] unit ${unitId} still has an active dispatch after the run: ${active.map((d) => `${d.id} ${d.state}`).join(', ')}`);
  }

  // 3. Fencing: a fenced dispatch row carries a token its worker held, never a superseded one.
  for (const row of dispatchRows) {
    if (!FENCED_DISPATCH.has(top(row.toState))) continue;
    const token = row.context.fencingToken;
    const milestoneId = String(row.context.milestoneId);
    const list = grantsByMilestone.get(milestoneId) ?? [];
    if (typeof token !== 'number') {
      violations.push(`[3 fencing] ${formatRow(row)}: a ${top(row.toState)} row without a fencing token`);
      continue;
    }
    const grant = list.find((g) => g.token === token);
    if (grant === undefined) {
      violations.push(`[3 fencing] ${formatRow(row)}: token ${token} was never held by a lease of ${milestoneId}`);
    } else if (grant.workerId !== row.context.workerId) {
      violations.push(`[3 fencing] ${formatRow(row)}: token ${token} belongs to ${grant.leaseId} of ${grant.workerId}`);
    }
    const newer = list.find((g) => g.token > token && g.heldAt < row.at);
    if (newer !== undefined) {
      violations.push(`[3 fencing] ${formatRow(row)}: written after ${newer.leaseId} was granted token ${newer.token} (held at ${newer.heldAt})`);
    }
  }
  return { grants, dispatches: dispatchesByUnit };
}

/** A line of the tick log as `fuzz-unit.mjs` writes it. */
export interface FuzzTick extends Tick {
  readonly dispatch?: string;
  readonly token?: number;
  readonly attempt?: number;
  readonly fail?: boolean;
}

/** One execution (one process) of a unit, with the dispatch and token it ran under. */
export interface Execution {
  readonly unit: string;
  readonly pid: number;
  readonly run: string;
  readonly dispatch: string | null;
  readonly token: number | null;
  readonly from: number;
  readonly to: number;
  readonly ended: boolean;
  readonly failedOnPurpose: boolean;
}

export function executionsOf(ticks: readonly FuzzTick[]): Execution[] {
  const byProcess = new Map<string, Execution>();
  for (const t of ticks) {
    // By incarnation too: with hosts, every runtime has a PID namespace of its own, and two of
    // them often give a unit's turns the same small pid.
    const key = `${t.unit}\0${t.run}\0${t.pid}`;
    const known = byProcess.get(key);
    byProcess.set(key, {
      unit: t.unit,
      pid: t.pid,
      run: known?.run ?? t.run,
      dispatch: known?.dispatch ?? t.dispatch ?? null,
      token: known?.token ?? (typeof t.token === 'number' && Number.isFinite(t.token) ? t.token : null),
      from: Math.min(known?.from ?? t.t, t.t),
      to: Math.max(known?.to ?? t.t, t.t),
      ended: (known?.ended ?? false) || t.event === 'end',
      failedOnPurpose: (known?.failedOnPurpose ?? false) || (t.event === 'end' && t.fail === true),
    });
  }
  return [...byProcess.values()].sort((a, b) => a.from - b.from);
}

export function describeExecution(e: Execution): string {
  return `${e.run}/pid ${e.pid} [${e.from}, ${e.to}]${e.ended ? '' : ' killed'} in ${e.dispatch ?? '?'} under token ${e.token ?? '?'}`;
}

/** At most `limit` items joined, then how many more. */
export function capped(items: readonly string[], limit: number, separator = '; '): string {
  return items.length <= limit ? items.join(separator) : `${items.slice(0, limit).join(separator)}${separator}… and ${items.length - limit} more`;
}

/**
 * Check 4 over the tick log: no two executions of a unit at once, executions of one milestone
 * one at a time, every execution inside the claimed life of its own dispatch (a turn is spawned
 * after its dispatch's claim was recorded, and is gone — ended, or killed and verified gone —
 * before the dispatch is recorded final) and under the token of that claim, and nothing of a
 * unit after its completion was recorded. The tick log must be read before the store.
 */
export function checkTicks(ticks: readonly FuzzTick[], plan: readonly PlannedMilestone[], dispatches: ReadonlyMap<string, readonly DispatchLife[]>, violations: string[]): void {
  for (const overlap of overlaps(ticks)) violations.push(`[4 concurrent executions] ${overlap}`);
  for (const milestone of plan) {
    const spans = milestone.units.flatMap((unit) => executionSpans(ticks, unit.id).map((span) => ({ ...span, unit: unit.id })));
    spans.sort((a, b) => a.from - b.from);
    let latest: (typeof spans)[number] | undefined;
    for (const span of spans) {
      if (latest !== undefined && span.from <= latest.to && span.unit !== latest.unit) {
        violations.push(`[4 concurrent executions] milestone ${milestone.id}: ${latest.unit} (pid ${latest.pid}, run ${latest.run}) [${latest.from}, ${latest.to}] and ${span.unit} (pid ${span.pid}, run ${span.run}) from ${span.from}`);
      }
      if (latest === undefined || span.to > latest.to) latest = span;
    }
  }
  for (const [unitId, unitTicks] of groupBy(ticks, (t) => t.unit)) {
    const lives = dispatches.get(unitId) ?? [];
    const completedAt = lives.find((d) => d.completedAt !== null)?.completedAt ?? null;
    const late = completedAt === null ? [] : unitTicks.filter((t) => t.t > completedAt);
    if (late.length > 0) {
      violations.push(`[4 executed again] ${unitId} completed at ${completedAt} but ran again: ${late.slice(0, 3).map((t) => `${t.event} pid ${t.pid} run ${t.run} at ${t.t}`).join('; ')}`);
    }
    for (const execution of executionsOf(unitTicks)) {
      const own = lives.find((d) => d.id === execution.dispatch);
      if (own === undefined) {
        violations.push(`[4 execution outside its dispatch] ${unitId}: ${describeExecution(execution)}: no such dispatch in the journal`);
        continue;
      }
      const life = `${own.id} claimed at ${own.claimedAt ?? 'never'} under token ${own.claimToken ?? '?'}, final at ${own.endedAt ?? 'not yet'}`;
      if (own.claimedAt === null || execution.from < own.claimedAt || (own.endedAt !== null && execution.to > own.endedAt)) {
        violations.push(`[4 execution outside its dispatch] ${unitId}: ${describeExecution(execution)}; ${life}\n    ${capped(own.rows.map(formatRow), 8, '\n    ')}`);
      }
      if (own.claimToken !== null && execution.token !== own.claimToken) {
        violations.push(`[3 fencing] ${unitId}: ${describeExecution(execution)} but ${life}`);
      }
    }
  }
}

/** The tick log's complete lines (a line being appended right now is left for the next read). */
export function readCompleteTicks(file: string): FuzzTick[] {
  const text = fs.readFileSync(file, 'utf8');
  return text
    .slice(0, text.lastIndexOf('\n') + 1)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as FuzzTick);
}

/** The store's active actors (with a worker's lease) and running runtimes, to explain a run that does not end. */
export async function describeActive(storeFile: string): Promise<string> {
  const store = openStoreIfReady(storeFile);
  if (store === null) return 'the store was never created';
  try {
    const actors: string[] = [];
    for (const actor of await store.listActiveActors()) {
      const context = (JSON.parse(actor.snapshot) as { context?: { leaseId?: unknown; milestoneId?: unknown } }).context;
      const lease = typeof context?.leaseId === 'string' ? await store.getActor(context.leaseId) : undefined;
      const leaseText = lease === undefined ? '' : `, lease ${lease.id} ${lease.state} (${lease.status}, owner ${lease.owner ?? 'none'})`;
      actors.push(`${actor.id} ${actor.kind} ${actor.state} (owner ${actor.owner ?? 'none'}${leaseText})`);
    }
    const running = (await store.listRuntimes()).filter((r) => r.state === 'running').map((r) => `${r.id} (pid ${r.pid})`);
    return `active actors: ${actors.join('; ') || 'none'}; running runtimes: ${running.join(', ') || 'none'}`;
  } finally {
    await store.close();
  }
}

