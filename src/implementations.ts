import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION, dispatchMachine } from '../machines/dispatch.js';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, leaseMachine } from '../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION, supervisorMachine } from '../machines/supervisor.js';
import { WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, workerMachine } from '../machines/worker.js';
import { WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION, workspaceMachine } from '../machines/workspace.js';
import { createWorkspaceEffects } from '../actors/workspaceEffects.js';
import { createDeadline } from '../actors/deadline.js';
import { createHeartbeat } from '../actors/heartbeat.js';
import type { EffectContext } from '../actors/effectContext.js';
import { createLeaseEffects } from '../actors/leaseEffects.js';
import { createWorkerEffects } from '../actors/workerEffects.js';
import type { ActorKind } from '../persistence/types.js';
import type { AnyStateMachine } from 'xstate';
import type { MachineDefinition, SnapshotMigration } from './actorHost.js';
import { UsageError } from '../core/errors.js';

export type { EffectContext };

/** The worker statechart with the runtime's effects (see `actors/workerEffects.ts`). */
export function provideWorker(effects: EffectContext) {
  return workerMachine.provide({ actors: createWorkerEffects(effects) });
}

/** The lease statechart with the store-backed claim, renewal and release (see `actors/leaseEffects.ts`). */
export function provideLease(effects: EffectContext) {
  return leaseMachine.provide({ actors: createLeaseEffects(effects) });
}

/** The dispatch statechart with its durable retry backoff (see `actors/deadline.ts`). */
export function provideDispatch(effects: EffectContext) {
  return dispatchMachine.provide({ actors: createDeadline(effects.clock, effects.committed) });
}

/** The workspace statechart with its git effects (see `actors/workspaceEffects.ts`). */
export function provideWorkspace(effects: EffectContext) {
  return workspaceMachine.provide({ actors: createWorkspaceEffects(effects) });
}

/**
 * The machines a runtime hosts, each with its effects, machine id and version, and
 * the snapshot migration given for its kind (if any).
 * @param heartbeatIntervalMs how often the supervisor writes the runtime's heartbeat (ms).
 */
export function machineDefinitions(
  effects: EffectContext,
  heartbeatIntervalMs: number,
  migrations: Partial<Record<ActorKind, SnapshotMigration>> = {},
  overrides: MachineOverrides = {},
): Record<ActorKind, MachineDefinition> {
  const define = (kind: ActorKind, machine: AnyStateMachine, machineId: string, machineVersion: number): MachineDefinition => {
    const migrate = migrations[kind];
    const provided = overrides[kind];
    const hosted = provided === undefined ? machine : machine.provide(hostImplementations(kind, provided, BASE_MACHINES[kind]));
    return { kind, machine: hosted, machineId, machineVersion, ...(migrate === undefined ? {} : { migrate }) };
  };
  const supervisor = supervisorMachine.provide({ actors: createHeartbeat(effects.store, effects.clock, heartbeatIntervalMs, effects.heartbeatRecorded) });
  return {
    supervisor: define('supervisor', supervisor, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION),
    worker: define('worker', provideWorker(effects), WORKER_MACHINE_ID, WORKER_MACHINE_VERSION),
    lease: define('lease', provideLease(effects), LEASE_MACHINE_ID, LEASE_MACHINE_VERSION),
    dispatch: define('dispatch', provideDispatch(effects), DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION),
    workspace: define('workspace', provideWorkspace(effects), WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION),
  };
}

/**
 * A host's versions of the four machines, each made from the exported machine with
 * `.provide(...)` (its own turn runner, its own probes). Only the implementations the host
 * replaced are taken; the runtime's own fill in the rest, and the statechart, machine id and
 * version stay those of the exported machine, so actors persist and restore the same way.
 */
export type MachineOverrides = Partial<Record<ActorKind, AnyStateMachine>>;

const BASE_MACHINES: Readonly<Record<ActorKind, AnyStateMachine>> = {
  supervisor: supervisorMachine,
  worker: workerMachine,
  lease: leaseMachine,
  dispatch: dispatchMachine,
  workspace: workspaceMachine,
};

type Implementations = Record<'actors' | 'actions' | 'guards' | 'delays', Record<string, unknown>>;

/**
 * Checks a host's machines before anything is opened or written.
 * @throws UsageError when one is not the exported machine of its kind or made from it with `.provide()`.
 */
export function checkMachineOverrides(overrides: MachineOverrides): void {
  for (const [kind, provided] of Object.entries(overrides) as [ActorKind, AnyStateMachine | undefined][]) {
    const base = BASE_MACHINES[kind];
    if (base === undefined) throw new UsageError(`machines.${String(kind)}: unknown actor kind; expected worker, lease, dispatch, workspace or supervisor`);
    if (provided !== undefined && provided.config !== base.config) {
      throw new UsageError(
        `machines.${kind} must be the exported ${kind}Machine or made from it with .provide(); got a machine with id "${provided.id}" and its own definition`,
      );
    }
  }
}

/** The implementations of `provided` that differ from `base`'s: what the host replaced. */
function hostImplementations(kind: ActorKind, provided: AnyStateMachine, base: AnyStateMachine): Parameters<AnyStateMachine['provide']>[0] {
  checkMachineOverrides({ [kind]: provided });
  const mine = provided.implementations as unknown as Implementations;
  const theirs = base.implementations as unknown as Implementations;
  const changed = (group: keyof Implementations) =>
    Object.fromEntries(Object.entries(mine[group]).filter(([name, implementation]) => theirs[group][name] !== implementation));
  return { actors: changed('actors'), actions: changed('actions'), guards: changed('guards'), delays: changed('delays') } as Parameters<
    AnyStateMachine['provide']
  >[0];
}