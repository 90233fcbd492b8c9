import type { Store } from '../persistence/store.js';
import type { CommandRecord } from '../persistence/types.js';
import { systemClock } from '../core/clock.js';
import { localHostIdentity } from '../actors/hostIdentity.js';
import { AlignedClock } from './storeClock.js';
import { deadVerdict } from './liveness.js';
import { CONTROL } from './operatorCommands.js';
import { readStatus } from './status.js';
import { readStoredPlan } from './storedPlan.js';

/**
 * What an operator action did to the store, before any runtime acted on it.
 * - `accepted`: recorded (a queued command, a switch set, a cancellation, a message). `live`
 *   lists the runtimes running on the store when it was recorded (empty: it takes effect when a
 *   run starts or resumes).
 * - `refused`: nothing was written. `reason` says why: `not-found` (no such worker or unit —
 *   fix the target), `not-running` (the target already ended or nothing runs), `conflict`
 *   (already in that state: already completed, already canceled, not paused).
 */
export type ActionOutcome =
  | {
      readonly kind: 'accepted';
      readonly message: string;
      /** The id of the queued command (`stopWorker`) or message (`sendMessage`). */
      readonly id?: number;
      readonly live: readonly string[];
    }
  | { readonly kind: 'refused'; readonly reason: 'not-found' | 'not-running' | 'conflict'; readonly message: string };

/** An operator action as the inspector page posts it (and the CLI's control commands perform). */
export type OperatorAction =
  | { readonly action: 'stop-worker'; readonly workerId: string }
  | { readonly action: 'pause' }
  | { readonly action: 'resume' }
  | { readonly action: 'cancel-unit'; readonly unitId: string }
  | { readonly action: 'send-message'; readonly target: string; readonly text: string };

/**
 * Ids of the runtimes running on `store` now: state `running` and a heartbeat that is not dead
 * by the liveness rule ({@link deadVerdict}), judged on the store's clock (PostgreSQL: the
 * server's), since heartbeats are stamped on it.
 */
export async function liveRuntimes(store: Store): Promise<string[]> {
  const clock = new AlignedClock(systemClock);
  await clock.sync(() => store.readClock());
  const now = clock.now();
  return (await store.listRuntimes())
    .filter((runtime) => runtime.state === 'running' && deadVerdict(runtime, now, localHostIdentity()) === null)
    .map((runtime) => runtime.id);
}

/**
 * Performs one operator action on a store — the same rows `statecrew stop --worker`, `pause`,
 * `resume`, `cancel` and `send` write, so a runtime in any process acts on it at its next
 * command poll. Returns at once: it does not wait for a runtime to act (a stop's outcome is its
 * command's `outcome`, read with `store.getCommand(id)`).
 * @throws the store's errors (StoreBusyError, StoreUnavailableError, …) unchanged.
 */
export async function performAction(store: Store, action: OperatorAction, now = systemClock.now()): Promise<ActionOutcome> {
  switch (action.action) {
    case 'stop-worker':
      return stopWorker(store, action.workerId, now);
    case 'pause':
      return pause(store, now);
    case 'resume':
      return resume(store, now);
    case 'cancel-unit':
      return cancelUnit(store, action.unitId, now);
    case 'send-message':
      return sendMessage(store, action.target, action.text, now);
  }
}

async function stopWorker(store: Store, workerId: string, now: number): Promise<ActionOutcome> {
  const worker = (await store.listWorkers()).find((w) => w.id === workerId);
  if (worker === undefined) return { kind: 'refused', reason: 'not-found', message: `no worker ${workerId} in this store` };
  const live = await liveRuntimes(store);
  if (['completed', 'zombie', 'stopped'].includes(worker.state) || live.length === 0) {
    return { kind: 'refused', reason: 'not-running', message: `worker ${worker.id} is not running (${live.length === 0 ? 'no runtime is running' : worker.state})` };
  }
  const id = await store.enqueueCommand({ kind: 'stop', target: worker.id, now });
  return { kind: 'accepted', id, live, message: `stop of worker ${worker.id} queued as command #${id}` };
}

async function pause(store: Store, now: number): Promise<ActionOutcome> {
  const wasPaused = (await store.getControl(CONTROL.paused)) !== undefined;
  await store.setControl(CONTROL.paused, 'paused', now);
  const live = await liveRuntimes(store);
  if (live.length === 0) return { kind: 'accepted', live, message: 'paused, but nothing is running: the next run starts paused' };
  return { kind: 'accepted', live, message: `${wasPaused ? 'already paused' : 'paused'}: ${live.join(', ')} start no new turns; running turns finish` };
}

async function resume(store: Store, now: number): Promise<ActionOutcome> {
  if ((await store.getControl(CONTROL.paused)) === undefined) return { kind: 'refused', reason: 'conflict', message: 'not paused' };
  await store.setControl(CONTROL.paused, null, now);
  const live = await liveRuntimes(store);
  return { kind: 'accepted', live, message: live.length === 0 ? 'resumed, but nothing is running' : `resumed: ${live.join(', ')} start turns again` };
}

async function cancelUnit(store: Store, unitId: string, now: number): Promise<ActionOutcome> {
  const plan = await readStoredPlan(store);
  const unit = plan?.milestones.flatMap((m) => m.units).find((u) => u.id === unitId);
  if (unit === undefined) return { kind: 'refused', reason: 'not-found', message: `no unit ${unitId} in the plan of this store` };
  const before = (await readStatus(store)).units.find((u) => u.id === unitId);
  if (before?.state === 'completed') return { kind: 'refused', reason: 'conflict', message: `unit ${unitId} already completed; nothing to cancel` };
  if (!(await store.cancelUnit(unitId, 'canceled by operator', now))) return { kind: 'refused', reason: 'conflict', message: `unit ${unitId} is already canceled` };
  const live = await liveRuntimes(store);
  const running = before?.state === 'running' ? ': its running turn is killed' : '';
  return { kind: 'accepted', live, message: live.length === 0 ? `unit ${unitId} canceled, but nothing is running` : `unit ${unitId} canceled${running}` };
}

async function sendMessage(store: Store, target: string, text: string, now: number): Promise<ActionOutcome> {
  const plan = await readStoredPlan(store);
  const units = plan?.milestones.flatMap((m) => m.units.map((u) => u.id)) ?? [];
  let unitId = units.includes(target) ? target : undefined;
  if (unitId === undefined) {
    const worker = (await store.listWorkers()).find((w) => w.id === target);
    if (worker === undefined) return { kind: 'refused', reason: 'not-found', message: `no unit or worker ${target} in this store` };
    unitId = worker.unitId ?? (await store.listDispatches()).filter((d) => d.workerId === target).at(-1)?.unitId;
    if (unitId === undefined) return { kind: 'refused', reason: 'not-running', message: `worker ${target} has run no unit yet; send to a unit id` };
  }
  if ((await store.listCanceledUnits()).some((u) => u.unitId === unitId)) return { kind: 'refused', reason: 'conflict', message: `unit ${unitId} is canceled` };
  const id = await store.enqueueMessage(unitId, text, now);
  const live = await liveRuntimes(store);
  return {
    kind: 'accepted',
    id,
    live,
    message:
      live.length === 0
        ? `message #${id} queued for ${unitId}, but nothing is running: it is delivered when a run resumes`
        : `message #${id} queued for ${unitId}: it is the input of its next turn`,
  };
}

/** A queued command as the page shows it: still waiting, taken by a runtime, or done with its outcome. */
export function describeCommand(command: CommandRecord): { state: 'queued' | 'taken' | 'done'; outcome: string | null; message: string | null; takenBy: string | null } {
  return {
    state: command.doneAt != null ? 'done' : command.takenBy !== null ? 'taken' : 'queued',
    outcome: command.outcome ?? null,
    message: command.message ?? null,
    takenBy: command.takenBy,
  };
}
