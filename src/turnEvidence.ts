import type { TurnAssignment, TurnStarted } from '../machines/turn.js';
import type { WorkerContext } from '../machines/worker.js';
import { turnStatusPath } from '../actors/turnStatus.js';
import type { Store } from '../persistence/store.js';

/**
 * The recorded start of a turn — pid, process group, kernel start time, status file,
 * absolute deadline — from the worker's persisted snapshot, else from its dispatch's
 * projection; `null` when no start was recorded (the turn was never spawned, or the crash
 * came between the spawn and its record).
 */
export async function recordedTurnStart(store: Store, turn: TurnAssignment): Promise<TurnStarted | null> {
  const worker = await store.getActor(turn.workerId);
  if (worker !== undefined) {
    const context = (JSON.parse(worker.snapshot) as { context?: WorkerContext }).context;
    if (context?.turn?.dispatchId === turn.dispatchId && context.started !== null) return context.started;
  }
  const dispatch = (await store.listDispatches(turn.unitId)).find((row) => row.id === turn.dispatchId);
  if (dispatch?.pid != null && dispatch.pgid !== null && dispatch.startedAt !== null && dispatch.logPath !== null) {
    return {
      pid: dispatch.pid,
      pgid: dispatch.pgid,
      procStartTime: dispatch.procStartTime,
      ...(dispatch.hostId === null ? {} : { hostId: dispatch.hostId }),
      startedAt: dispatch.startedAt,
      logPath: dispatch.logPath,
      statusFile: turnStatusPath(dispatch.logPath),
      deadlineAt: dispatch.startedAt + turn.timeoutMs,
    };
  }
  return null;
}
