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

/** Why another runtime may be taken over, or `null` when it must be left alone. */
export type DeadVerdict = string | null;

/**
 * Decides whether a registered runtime is dead, so its actors may be taken over.
 * Never trusts a pid alone: the process must match the recorded kernel start time.
 *
 * - On this host: dead when its process is gone (no such pid, a zombie, or a different
 *   process with a recycled pid) — at once, whatever its heartbeat says, since it can never
 *   beat again; also dead when its process is stopped (SIGSTOP, state `T`) and its heartbeat
 *   lapsed (`heartbeatAt + ttlMs <= now`): a stopped runtime makes no progress, and if it
 *   is resumed its writes are refused (fencing on the owner).
 * - On another host (the store on a shared file system): dead when its heartbeat lapsed by
 *   more than two TTLs; its process cannot be inspected from here.
 * - A running process with a fresh or a late heartbeat is alive.
 * - In this very process: dead when it is no longer marked live here.
 */
export function deadVerdict(runtime: RuntimeRecord, now: number, host: string): DeadVerdict {
  if (runtime.state !== 'running') return null;
  const lapsed = runtime.heartbeatAt + runtime.ttlMs <= now;
  if (runtime.host !== host) {
    return runtime.heartbeatAt + 2 * runtime.ttlMs <= now ? `heartbeat of ${runtime.id} on ${runtime.host} lapsed` : null;
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
