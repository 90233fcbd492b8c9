import { WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION, workspaceMachine } from '../../machines/workspace.js';
import { inertActors } from '../../src/testing/runPath.js';
import { describe, it } from 'vitest';
import { fromCallback, fromPromise } from 'xstate';
import type { AnyStateMachine } from 'xstate';
import { dispatchMachine, DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION } from '../../machines/dispatch.js';
import { leaseMachine, LEASE_MACHINE_ID, LEASE_MACHINE_VERSION } from '../../machines/lease.js';
import { supervisorMachine, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION } from '../../machines/supervisor.js';
import { workerMachine, WORKER_MACHINE_ID, WORKER_MACHINE_VERSION } from '../../machines/worker.js';
import type { ActorKind } from '../../persistence/types.js';
import type { MachineDefinition } from '../../src/actorHost.js';
import { checkCrashRecovery, createModel, missingCoverage, runModelPath, type Model, type ModelSpec } from '../../src/testing/index.js';

/**
 * The project's model-based suites use the test kit hosts use (`statecrew/testing`): the
 * same paths, the same real actor host and SQLite file, the same crash-and-restore checks.
 */
export type { ModelSpec };
export const buildModel = createModel;
export const missing = missingCoverage;

const INERT_PROMISE = fromPromise(() => new Promise<never>(() => {}));
const INERT_CALLBACK = fromCallback(() => () => {});

/** The four machines with implementations that never resolve, send or fail: only the test moves them. */
export function inertDefinitions(): Record<ActorKind, MachineDefinition> {
  const define = <K extends ActorKind>(kind: K, machine: AnyStateMachine, machineId: string, machineVersion: number) =>
    ({ kind, machine, machineId, machineVersion }) as const;
  const worker = { prepareWorker: INERT_PROMISE, runTurn: INERT_CALLBACK, stopTurn: INERT_PROMISE };
  const lease = { claimLease: INERT_PROMISE, holdLease: INERT_CALLBACK, releaseLease: INERT_PROMISE };
  const dispatch = { waitUntil: INERT_PROMISE };
  return {
    worker: define('worker', workerMachine.provide({ actors: worker as never }), WORKER_MACHINE_ID, WORKER_MACHINE_VERSION),
    lease: define('lease', leaseMachine.provide({ actors: lease as never }), LEASE_MACHINE_ID, LEASE_MACHINE_VERSION),
    dispatch: define('dispatch', dispatchMachine.provide({ actors: dispatch as never }), DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION),
    supervisor: define('supervisor', supervisorMachine, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION),
    workspace: define('workspace', inertActors(workspaceMachine), WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION),
  };
}

/**
 * Declares two tests per path of `model`: every step persisted (state, journal row,
 * projection), and the same final persisted state after a crash-and-restore at any step.
 */
export function describeModelPaths(spec: ModelSpec, model: Model): void {
  for (const modelPath of model.paths) {
    describe(modelPath.description, () => {
      it('persists every step: state, journal row and projection', async () => {
        await runModelPath(spec, modelPath);
      });

      it('ends in the same persisted state after a crash-and-restore at any step', async () => {
        await checkCrashRecovery(spec, modelPath);
      });
    });
  }
}
