import type { Store } from '../../persistence/store.js';
import { openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import { systemClock } from '../../core/clock.js';
import { AlignedClock } from '../storeClock.js';
import { localHostIdentity } from '../../actors/hostIdentity.js';
import { deadVerdict } from '../liveness.js';
import { CONTROL } from '../operatorCommands.js';
import { readStatus } from '../status.js';
import { readStoredPlan } from '../storedPlan.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

/** Exit codes of the control commands: 0 done, 1 nothing is running (or nothing to do), 2 no such target. */
export interface ControlOptions {
  readonly store: string;
  /** How long to wait for the runtime to act, in ms. @default 60_000 */
  readonly timeoutMs?: number;
}

type Outcome = { readonly code: number; readonly message: string };

async function withStore(options: ControlOptions, io: CliIO, act: (store: Store) => Promise<Outcome>): Promise<number> {
  const store = openStoreAt(resolveStoreLocation(options.store, io.cwd), { mustExist: true });
  try {
    const outcome = await act(store);
    (outcome.code === EXIT.ok ? io.stdout : io.stderr).write(`${outcome.code === EXIT.ok ? '' : 'statecrew: '}${outcome.message}\n`);
    return outcome.code;
  } finally {
    await store.close();
  }
}

async function liveRuntimes(store: Store): Promise<string[]> {
  // Heartbeats are stamped on the store's clock (PostgreSQL: the server's): judged on it too.
  const clock = new AlignedClock(systemClock);
  await clock.sync(() => store.readClock());
  const now = clock.now();
  return (await store.listRuntimes())
    .filter((runtime) => runtime.state === 'running' && deadVerdict(runtime, now, localHostIdentity()) === null)
    .map((runtime) => runtime.id);
}

/** Re-checks `done` every 100 ms until it holds or `timeoutMs` passed (the CLI waits on another process's writes). */
async function waitUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = systemClock.now() + timeoutMs;
  while (!(await done())) {
    if (systemClock.now() >= deadline) return false;
    await new Promise<void>((resolve) => systemClock.setTimeout(() => resolve(), 100));
  }
  return true;
}

/** `statecrew stop [--worker ID]`: stops one worker (kill, verify, record), or drains every runtime on the store. */
export function stopCommand(options: ControlOptions & { worker?: string }, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const timeout = options.timeoutMs ?? 60_000;
    const live = await liveRuntimes(store);
    if (options.worker !== undefined) {
      const worker = (await store.listWorkers()).find((w) => w.id === options.worker);
      if (worker === undefined) return { code: EXIT.invalidInput, message: `no worker ${options.worker} in this store` };
      if (['completed', 'zombie', 'stopped'].includes(worker.state) || live.length === 0) {
        return { code: EXIT.failed, message: `worker ${worker.id} is not running (${live.length === 0 ? 'no runtime is running' : worker.state})` };
      }
      const id = await store.enqueueCommand({ kind: 'stop', target: worker.id, now: systemClock.now() });
      const done = await waitUntil(async () => (await store.getCommand(id))?.doneAt != null, timeout);
      const command = await store.getCommand(id);
      if (!done || command?.outcome !== 'done') {
        return { code: EXIT.failed, message: `worker ${worker.id} was not stopped within ${timeout} ms (no runtime took the command)` };
      }
      return { code: EXIT.ok, message: command.message ?? `worker ${worker.id} stopped` };
    }
    if (live.length === 0) return { code: EXIT.failed, message: 'nothing is running on this store' };
    await store.setControl(CONTROL.stop, 'requested', systemClock.now());
    const stopped = await waitUntil(async () => (await liveRuntimes(store)).length === 0, timeout);
    if (!stopped) return { code: EXIT.failed, message: `runtimes still running after ${timeout} ms: ${(await liveRuntimes(store)).join(', ')}` };
    return {
      code: EXIT.ok,
      message: `stopped ${live.join(', ')}: turns killed and verified gone, interrupted units pending again, leases released`,
    };
  });
}

/** `statecrew pause`: no new turn starts (running turns finish); persisted, survives restarts. */
export function pauseCommand(options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const wasPaused = (await store.getControl(CONTROL.paused)) !== undefined;
    await store.setControl(CONTROL.paused, 'paused', systemClock.now());
    const live = await liveRuntimes(store);
    if (live.length === 0) return { code: EXIT.failed, message: 'paused, but nothing is running: the next run starts paused' };
    return { code: EXIT.ok, message: `${wasPaused ? 'already paused' : 'paused'}: ${live.join(', ')} start no new turns; running turns finish` };
  });
}

/** `statecrew resume`: lifts a pause. */
export function resumeCommand(options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    if ((await store.getControl(CONTROL.paused)) === undefined) return { code: EXIT.failed, message: 'not paused' };
    await store.setControl(CONTROL.paused, null, systemClock.now());
    const live = await liveRuntimes(store);
    if (live.length === 0) return { code: EXIT.failed, message: 'resumed, but nothing is running' };
    return { code: EXIT.ok, message: `resumed: ${live.join(', ')} start turns again` };
  });
}

/** `statecrew cancel <unitId>`: cancels the unit for good (and kills its running turn); dependents are blocked. */
export function cancelCommand(unitId: string, options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const plan = await readStoredPlan(store);
    const unit = plan?.milestones.flatMap((m) => m.units).find((u) => u.id === unitId);
    if (unit === undefined) return { code: EXIT.invalidInput, message: `no unit ${unitId} in the plan of this store` };
    const before = (await readStatus(store)).units.find((u) => u.id === unitId);
    if (before?.state === 'completed') return { code: EXIT.failed, message: `unit ${unitId} already completed; nothing to cancel` };
    const wasRunning = before?.state === 'running';
    await store.cancelUnit(unitId, 'canceled by operator', systemClock.now());
    const live = await liveRuntimes(store);
    if (live.length === 0) return { code: EXIT.failed, message: `unit ${unitId} canceled, but nothing is running` };
    const active = async () => (await store.listDispatches(unitId)).some((d) => ['pending', 'claimed', 'running'].includes(d.state));
    const settled = await waitUntil(async () => !(await active()), options.timeoutMs ?? 60_000);
    if (!settled) return { code: EXIT.failed, message: `unit ${unitId} canceled, but its dispatch is still active` };
    const status = await readStatus(store);
    const blocked = status.units.filter((u) => u.state === 'blocked').map((u) => u.id);
    const turn = wasRunning ? 'its running turn was killed and verified gone' : 'it was not running';
    return { code: EXIT.ok, message: `canceled ${unitId} (${turn})${blocked.length > 0 ? `; blocked: ${blocked.join(', ')}` : ''}` };
  });
}

/** `statecrew send <workerId|unitId> <text>`: queues a message that becomes the input of the unit's next turn. */
export function sendCommand(target: string, text: string, options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const plan = await readStoredPlan(store);
    const units = plan?.milestones.flatMap((m) => m.units.map((u) => u.id)) ?? [];
    let unitId = units.includes(target) ? target : undefined;
    if (unitId === undefined) {
      const worker = (await store.listWorkers()).find((w) => w.id === target);
      const lastOfWorker = (await store.listDispatches()).filter((d) => d.workerId === target).at(-1);
      unitId = worker?.unitId ?? lastOfWorker?.unitId;
      if (worker === undefined) return { code: EXIT.invalidInput, message: `no unit or worker ${target} in this store` };
      if (unitId === undefined) return { code: EXIT.failed, message: `worker ${target} has run no unit yet; send to a unit id` };
    }
    if ((await store.listCanceledUnits()).some((u) => u.unitId === unitId)) return { code: EXIT.failed, message: `unit ${unitId} is canceled` };
    const id = await store.enqueueMessage(unitId, text, systemClock.now());
    const live = await liveRuntimes(store);
    if (live.length === 0) return { code: EXIT.failed, message: `message #${id} queued for ${unitId}, but nothing is running: it is delivered when a run resumes` };
    return { code: EXIT.ok, message: `message #${id} queued for ${unitId}: it is the input of its next turn` };
  });
}
