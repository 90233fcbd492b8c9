import type { Store } from '../../persistence/store.js';
import { openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import { systemClock } from '../../core/clock.js';
import { CONTROL } from '../operatorCommands.js';
import { liveRuntimes, performAction, type ActionOutcome } from '../operatorActions.js';
import { readStatus } from '../status.js';
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

/** Re-checks `done` every 100 ms until it holds or `timeoutMs` passed (the CLI waits on another process's writes). */
async function waitUntil(done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = systemClock.now() + timeoutMs;
  while (!(await done())) {
    if (systemClock.now() >= deadline) return false;
    await new Promise<void>((resolve) => systemClock.setTimeout(() => resolve(), 100));
  }
  return true;
}

/** Exit code and message of a refused or accepted action: refused for a missing target is 2, any other refusal 1. */
function fromAction(outcome: ActionOutcome): Outcome {
  if (outcome.kind === 'refused') return { code: outcome.reason === 'not-found' ? EXIT.invalidInput : EXIT.failed, message: outcome.message };
  return { code: outcome.live.length === 0 ? EXIT.failed : EXIT.ok, message: outcome.message };
}

/** `statecrew stop [--worker ID]`: stops one worker (kill, verify, record), or drains every runtime on the store. */
export function stopCommand(options: ControlOptions & { worker?: string }, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const timeout = options.timeoutMs ?? 60_000;
    if (options.worker !== undefined) {
      const queued = await performAction(store, { action: 'stop-worker', workerId: options.worker });
      if (queued.kind === 'refused' || queued.id === undefined) return fromAction(queued);
      const id = queued.id;
      const done = await waitUntil(async () => (await store.getCommand(id))?.doneAt != null, timeout);
      const command = await store.getCommand(id);
      if (!done || command?.outcome !== 'done') {
        return { code: EXIT.failed, message: `worker ${options.worker} was not stopped within ${timeout} ms (no runtime took the command)` };
      }
      return { code: EXIT.ok, message: command.message ?? `worker ${options.worker} stopped` };
    }
    const live = await liveRuntimes(store);
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
  return withStore(options, io, async (store) => fromAction(await performAction(store, { action: 'pause' })));
}

/** `statecrew resume`: lifts a pause. */
export function resumeCommand(options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => fromAction(await performAction(store, { action: 'resume' })));
}

/** `statecrew cancel <unitId>`: cancels the unit for good (and kills its running turn); dependents are blocked. */
export function cancelCommand(unitId: string, options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => {
    const before = (await readStatus(store)).units.find((u) => u.id === unitId);
    const canceled = await performAction(store, { action: 'cancel-unit', unitId });
    if (canceled.kind === 'refused' || canceled.live.length === 0) return fromAction(canceled);
    const active = async () => (await store.listDispatches(unitId)).some((d) => ['pending', 'claimed', 'running'].includes(d.state));
    const settled = await waitUntil(async () => !(await active()), options.timeoutMs ?? 60_000);
    if (!settled) return { code: EXIT.failed, message: `unit ${unitId} canceled, but its dispatch is still active` };
    const status = await readStatus(store);
    const blocked = status.units.filter((u) => u.state === 'blocked').map((u) => u.id);
    const turn = before?.state === 'running' ? 'its running turn was killed and verified gone' : 'it was not running';
    return { code: EXIT.ok, message: `canceled ${unitId} (${turn})${blocked.length > 0 ? `; blocked: ${blocked.join(', ')}` : ''}` };
  });
}

/** `statecrew send <workerId|unitId> <text>`: queues a message that becomes the input of the unit's next turn. */
export function sendCommand(target: string, text: string, options: ControlOptions, io: CliIO): Promise<number> {
  return withStore(options, io, async (store) => fromAction(await performAction(store, { action: 'send-message', target, text })));
}
