import type { HostIdentity } from '../actors/hostIdentity.js';
import { readProcessStat } from '../actors/processes.js';
import type { RuntimeRecord } from '../persistence/types.js';

/**
 * Runtimes alive in this very process. Several runtimes may share a process (embedding,
 * tests); for those the pid proves nothing, but this process knows which of them still run.
 */
const liveInThisProcess = new Set<string>();

/** Marks a runtime of this process live (`true`) or ended (`false`). */
export function markLiveInThisProcess(runtimeId: string, live: boolean): void {
  if (live) liveInThisProcess.add(runtimeId);
  else liveInThisProcess.delete(runtimeId);
}

/**
 * Added to a runtime's recorded turn grace before another host takes it over, in ms: the two
 * hosts' clock error (each at most half its sample's round trip, `storeClock.ts`) and timer and
 * scheduling slack on loaded machines (crash fuzzing on a busy 2-core machine needed more than 1 s).
 */
export const TAKEOVER_MARGIN_MS = 2_000;

/**
 * How long after its last heartbeat a runtime under another host identity is taken for dead,
 * in ms: two TTLs, and never before every turn it may still be running has ended by its
 * keep-alive ({@link RuntimeRecord.turnGraceMs} + {@link TAKEOVER_MARGIN_MS}), so that a unit
 * retried here never runs beside the old turn there.
 */
export function foreignTakeoverAfterMs(runtime: Pick<RuntimeRecord, 'ttlMs' | 'turnGraceMs'>): number {
  return Math.max(2 * runtime.ttlMs, runtime.turnGraceMs === null ? 0 : runtime.turnGraceMs + TAKEOVER_MARGIN_MS);
}

/** Why another runtime may be taken over, or `null` when it must be left alone. */
export type DeadVerdict = string | null;

/**
 * Decides whether a registered runtime is dead, so its actors may be taken over.
 * Never trusts a pid alone: the process must match the recorded kernel start time.
 *
 * - Under this host identity (same machine, boot and PID namespace, `actors/hostIdentity.ts`;
 *   for a runtime registered before identities were recorded, the same hostname): dead when its process is gone (no such pid, a zombie, or a different
 *   process with a recycled pid) — at once, whatever its heartbeat says, since it can never
 *   beat again; also dead when its process is stopped (SIGSTOP, state `T`) and its heartbeat
 *   lapsed (`heartbeatAt + ttlMs <= now`): a stopped runtime makes no progress, and if it
 *   is resumed its writes are refused (fencing on the owner).
 * - Under another identity (another machine, another boot, or another PID namespace on this
 *   machine, as two containers sharing a volume): dead when its heartbeat lapsed by
 *   {@link foreignTakeoverAfterMs} (two TTLs, and its turns' keep-alive bound). Its pid means nothing here — it may name no process, or an unrelated one — so
 *   it is never read.
 * - A running process with a fresh or a late heartbeat is alive.
 * - In this very process: dead when it is no longer marked live here.
 */
export function deadVerdict(runtime: RuntimeRecord, now: number, host: HostIdentity): DeadVerdict {
  if (runtime.state !== 'running') return null;
  const lapsed = runtime.heartbeatAt + runtime.ttlMs <= now;
  const local = runtime.hostId === null ? runtime.host === host.name : runtime.hostId === host.id;
  if (!local) {
    return runtime.heartbeatAt + foreignTakeoverAfterMs(runtime) <= now
      ? `heartbeat of ${runtime.id} on ${runtime.host} (${runtime.hostId ?? 'identity not recorded'}) lapsed`
      : null;
  }
  const stat = readProcessStat(runtime.pid);
  if (runtime.pid === process.pid && (runtime.procStartTime === null || stat?.startTime === runtime.procStartTime)) {
    return liveInThisProcess.has(runtime.id) ? null : `${runtime.id} of this process has ended`;
  }
  if (stat === null) return `process ${runtime.pid} of ${runtime.id} is gone`;
  if (runtime.procStartTime !== null && stat.startTime !== runtime.procStartTime) {
    return `process ${runtime.pid} of ${runtime.id} is gone (the pid now belongs to another process)`;
  }
  if (stat.state === 'Z' || stat.state === 'X') return `process ${runtime.pid} of ${runtime.id} has exited`;
  if ((stat.state === 'T' || stat.state === 't') && lapsed) {
    return `process ${runtime.pid} of ${runtime.id} is stopped and its heartbeat lapsed`;
  }
  return null;
}
