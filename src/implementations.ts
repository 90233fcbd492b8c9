import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION, dispatchMachine } from '../machines/dispatch.js';
import { LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, leaseMachine } from '../machines/lease.js';
import { SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION, supervisorMachine } from '../machines/supervisor.js';
import { WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, workerMachine } from '../machines/worker.js';
import { createDeadline } from '../actors/deadline.js';
import { createHeartbeat } from '../actors/heartbeat.js';
import type { EffectContext } from '../actors/effectContext.js';
import { createLeaseEffects } from '../actors/leaseEffects.js';
import { createWorkerEffects } from '../actors/workerEffects.js';
import type { ActorKind } from '../persistence/types.js';
import type { MachineDefinition, SnapshotMigration } from './actorHost.js';

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
  return dispatchMachine.provide({ actors: createDeadline(effects.clock) });
}

/**
 * The four machines a runtime hosts, each with its effects, machine id and version, and
 * the snapshot migration given for its kind (if any).
 * @param heartbeatIntervalMs how often the supervisor writes the runtime's heartbeat (ms).
 */
export function machineDefinitions(
  effects: EffectContext,
  heartbeatIntervalMs: number,
  migrations: Partial<Record<ActorKind, SnapshotMigration>> = {},
): Record<ActorKind, MachineDefinition> {
  const define = (kind: ActorKind, machine: MachineDefinition['machine'], machineId: string, machineVersion: number): MachineDefinition => {
    const migrate = migrations[kind];
    return { kind, machine, machineId, machineVersion, ...(migrate === undefined ? {} : { migrate }) };
  };
  const supervisor = supervisorMachine.provide({ actors: createHeartbeat(effects.store, effects.clock, heartbeatIntervalMs) });
  return {
    supervisor: define('supervisor', supervisor, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION),
    worker: define('worker', provideWorker(effects), WORKER_MACHINE_ID, WORKER_MACHINE_VERSION),
    lease: define('lease', provideLease(effects), LEASE_MACHINE_ID, LEASE_MACHINE_VERSION),
    dispatch: define('dispatch', provideDispatch(effects), DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION),
  };
}
