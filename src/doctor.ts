import { localHostIdentity, type HostIdentity } from '../actors/hostIdentity.js';
import { findProcessesByEnvPrefix, killProcesses } from '../actors/processes.js';
import type { Store } from '../persistence/store.js';
import type { Clock } from '../core/clock.js';
import { ensureError } from '../core/errors.js';
import { deadVerdict } from './liveness.js';
import { createRuntime } from './runtime.js';
import { readStoredPlan } from './storedPlan.js';
import { findWorkspaceOrphans, removeWorkspaceOrphans } from './workspaceDoctor.js';

/** One problem `statecrew doctor` found. */
export interface DoctorFinding {
  readonly kind: 'integrity' | 'stale-runtime' | 'expired-lease' | 'orphaned-dispatch' | 'quarantined' | 'orphan-process' | 'orphan-worktree' | 'orphan-branch';
  /** What it is about: a runtime, milestone, dispatch or actor id, a pid, a worktree's folder or a branch. */
  readonly subject: string;
  readonly detail: string;
}

/** What `statecrew doctor` reports. Times are ms since epoch. */
export interface DoctorReport {
  /** The store's integrity check (SQLite: `PRAGMA integrity_check` lines); `['ok']` when it is sound. */
  readonly integrity: readonly string[];
  readonly runtimes: readonly { id: string; pid: number; state: string; live: boolean; verdict: string | null }[];
  readonly findings: readonly DoctorFinding[];
  readonly healthy: boolean;
}

const ACTIVE_DISPATCH = new Set(['pending', 'claimed', 'running']);

/**
 * Examines a store: its integrity ({@link Store.checkIntegrity}), runtimes whose heartbeat lapsed with their process
 * gone or stopped (stale), ledger leases held past their expiry, dispatches active without
 * a live owner runtime, quarantined rows, and orphan turn processes — live processes whose
 * `STATECREW_TURN_KEY` belongs to this store but whose dispatch no live runtime drives, and
 * worktrees and branches of workspaces that nothing uses (`findWorkspaceOrphans`). Reads only.
 */
export async function diagnose(store: Store, clock: Clock, host: HostIdentity = localHostIdentity()): Promise<DoctorReport> {
  const now = clock.now();
  const findings: DoctorFinding[] = [];
  const problems = await store.checkIntegrity();
  const integrity = problems.length === 0 ? ['ok'] : problems;
  for (const line of problems) findings.push({ kind: 'integrity', subject: 'store', detail: line });

  const runtimes = (await store.listRuntimes()).map((runtime) => {
    const verdict = deadVerdict(runtime, now, host);
    return { id: runtime.id, pid: runtime.pid, state: runtime.state, live: runtime.state === 'running' && verdict === null, verdict };
  });
  for (const runtime of runtimes) {
    if (runtime.state === 'running' && runtime.verdict !== null) {
      findings.push({ kind: 'stale-runtime', subject: runtime.id, detail: `${runtime.verdict}; its actors wait to be taken over` });
    }
  }
  const live = new Set(runtimes.filter((runtime) => runtime.live).map((runtime) => runtime.id));
  const actors = new Map((await store.listActors()).map((actor) => [actor.id, actor]));
  const drivenByLiveRuntime = (actorId: string): boolean => {
    const actor = actors.get(actorId);
    return actor !== undefined && actor.status === 'active' && actor.owner !== null && live.has(actor.owner);
  };

  for (const lease of await store.listLeaseLedger()) {
    if (lease.holderId !== null && lease.expiresAt !== null && lease.expiresAt <= now) {
      findings.push({
        kind: 'expired-lease',
        subject: lease.milestoneId,
        detail: `held by ${lease.holderId} with fencing token ${lease.fencingToken}, expired ${new Date(lease.expiresAt).toISOString()}`,
      });
    }
  }
  for (const dispatch of await store.listDispatches()) {
    if (ACTIVE_DISPATCH.has(dispatch.state) && !drivenByLiveRuntime(dispatch.id)) {
      const owner = actors.get(dispatch.id)?.owner ?? 'nobody';
      findings.push({ kind: 'orphaned-dispatch', subject: dispatch.id, detail: `${dispatch.state}, owned by ${owner}, which is not running` });
    }
  }
  for (const actor of await store.listQuarantined()) {
    findings.push({ kind: 'quarantined', subject: actor.id, detail: `${actor.kind}: ${actor.reason ?? 'no reason recorded'}` });
  }
  for (const process of orphanProcesses(await store.storeId(), drivenByLiveRuntime)) {
    findings.push({ kind: 'orphan-process', subject: String(process.pid), detail: `turn of dispatch ${process.dispatchId}, which no live runtime drives` });
  }
  const plan = await readStoredPlan(store);
  if (plan !== undefined) {
    const workspaces = await store.listWorkspaces();
    const live = new Set(workspaces.filter((w) => drivenByLiveRuntime(w.id)).map((w) => w.id));
    for (const orphan of await findWorkspaceOrphans(plan, workspaces, live)) {
      findings.push({ kind: orphan.kind, subject: orphan.subject, detail: `${orphan.detail} (repository ${orphan.repo})` });
    }
  }
  return { integrity, runtimes, findings, healthy: findings.filter((f) => f.kind !== 'quarantined').length === 0 };
}

function orphanProcesses(storeId: string, driven: (actorId: string) => boolean): { pid: number; dispatchId: string }[] {
  const prefix = `${storeId}:`;
  return findProcessesByEnvPrefix('STATECREW_TURN_KEY', prefix)
    .map((found) => ({ pid: found.pid, dispatchId: found.value.slice(prefix.length) }))
    .filter((found) => !driven(found.dispatchId));
}

/** What `doctor --fix` did. */
export interface RepairReport {
  readonly killed: readonly number[];
  /** Orphan worktrees (folders) and branches removed. */
  readonly removedWorkspaces: readonly string[];
  readonly reconciled: boolean;
  readonly releasedLeases: readonly string[];
  readonly errors: readonly string[];
}

/**
 * Applies the reconciliation a starting runtime would, then stops, leaving nothing active:
 * kills orphan turn processes (verified gone); runs a runtime on the store's recorded plan
 * that takes over stale runtimes and ownerless actors, restores and reconciles them, and
 * drains at once (workers stopped, pending dispatches canceled, leases released); frees
 * expired ledger leases that no lease actor holds any more; removes orphan worktrees and
 * branches of workspaces (`findWorkspaceOrphans`). Turns that a later run could
 * have adopted are killed instead: their units are retried by that run.
 */
export async function repair(store: Store, clock: Clock, storeFile: string, logsDir: string): Promise<RepairReport> {
  const errors: string[] = [];
  const before = await diagnose(store, clock);
  const orphans = before.findings.filter((f) => f.kind === 'orphan-process').map((f) => Number(f.subject));
  if (orphans.length > 0) {
    try {
      await killProcesses(orphans, { graceMs: 2_000, clock });
    } catch (error) {
      errors.push(ensureError(error).message);
    }
  }
  let reconciled = false;
  const needsRuntime = before.findings.some((f) => f.kind === 'stale-runtime' || f.kind === 'orphaned-dispatch');
  const plan = await readStoredPlan(store);
  if (needsRuntime && plan !== undefined) {
    const runtime = createRuntime({ store, clock, logsDir });
    await runtime.start({ ...plan, store: storeFile });
    const result = await runtime.stop('doctor --fix', 0);
    reconciled = result.exitCode === 0;
    if (!reconciled) errors.push(`reconciliation ended with ${result.reason}`);
  }
  const releasedLeases: string[] = [];
  const now = clock.now();
  // Workspaces a live runtime drives (doctor --fix beside a running run) are left alone.
  const liveOwned = new Set(before.runtimes.filter((r) => r.live).map((r) => r.id));
  const ownedByLive = new Set((await store.listActors()).filter((a) => a.status === 'active' && a.owner !== null && liveOwned.has(a.owner)).map((a) => a.id));
  const heldByActor = new Set((await store.listActiveActors('lease')).map((actor) => actor.id));
  for (const lease of await store.listLeaseLedger()) {
    const expired = lease.holderId !== null && lease.expiresAt !== null && lease.expiresAt <= now;
    if (expired && (lease.leaseId === null || !heldByActor.has(lease.leaseId))) {
      if (await store.releaseLease({ milestoneId: lease.milestoneId, fencingToken: lease.fencingToken })) releasedLeases.push(lease.milestoneId);
    }
  }
  const removedWorkspaces: string[] = [];
  const storedPlan = await readStoredPlan(store);
  if (storedPlan !== undefined) {
    try {
      const workspaces = await store.listWorkspaces();
      const found = await findWorkspaceOrphans(storedPlan, workspaces, new Set(workspaces.filter((w) => ownedByLive.has(w.id)).map((w) => w.id)));
      await removeWorkspaceOrphans(found);
      removedWorkspaces.push(...found.map((orphan) => orphan.subject));
    } catch (error) {
      errors.push(ensureError(error).message);
    }
  }
  return { killed: orphans, reconciled, removedWorkspaces, releasedLeases, errors };
}
