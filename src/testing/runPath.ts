import { WORKSPACE_MACHINE_ID, WORKSPACE_MACHINE_VERSION, workspaceMachine } from '../../machines/workspace.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fromCallback } from 'xstate';
import type { AnyMachineSnapshot, AnyStateMachine, StateValue } from 'xstate';
import { dispatchMachine, DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION } from '../../machines/dispatch.js';
import { leaseMachine, LEASE_MACHINE_ID, LEASE_MACHINE_VERSION } from '../../machines/lease.js';
import { supervisorMachine, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION } from '../../machines/supervisor.js';
import { workerMachine, WORKER_MACHINE_ID, WORKER_MACHINE_VERSION } from '../../machines/worker.js';
import { openStoreAt } from '../../persistence/openStore.js';
import type { Store } from '../../persistence/store.js';
import type { ActorKind, ActorRecord } from '../../persistence/types.js';
import { ActorHost, type MachineDefinition } from '../actorHost.js';
import { createManualClock } from '../../core/clock.js';
import { StatecrewError } from '../../core/errors.js';
import { stateToString, topState } from '../projections.js';
import type { ModelPath, ModelSpec } from './model.js';

/**
 * A model path did not run as the model says: a step reached another state, wrote no or a
 * wrong journal row, persisted another context, or a write was refused. `step` is the index
 * of the step (0 = the actor's creation); the message names the path, the step and what
 * differed. Fix: the machine (or the provided implementation) the message points at.
 */
export class ModelPathError extends StatecrewError {
  readonly step: number;

  constructor(modelPath: ModelPath, step: number, problem: string) {
    super('MODEL_PATH_FAILED', `${modelPath.description}: step ${step} (${modelPath.steps[step]?.event.type ?? '?'}): ${problem}`);
    this.name = 'ModelPathError';
    this.step = step;
  }
}

/** What a path left in the store: the actor's final row and its journal as (event, from, to) triples. */
export interface PathRun {
  readonly record: Pick<ActorRecord, 'state' | 'status' | 'snapshot'>;
  readonly journal: readonly (readonly [string, string | null, string])[];
}

/** Options of {@link runModelPath}. */
export interface RunModelPathOptions {
  /**
   * Crash after step `crashAfter` (0 = right after creation): the actor host is dropped
   * without writing anything, the store file is reopened on a new connection, and a new host
   * restores the actor from its row before the remaining events are sent. @default no crash
   */
  readonly crashAfter?: number;
}

const INERT = fromCallback(() => () => {});
const ACTOR_ID = 'model-actor';
const BUILT_IN: Readonly<Record<ActorKind, { machine: AnyStateMachine; machineId: string; machineVersion: number }>> = {
  worker: { machine: workerMachine, machineId: WORKER_MACHINE_ID, machineVersion: WORKER_MACHINE_VERSION },
  lease: { machine: leaseMachine, machineId: LEASE_MACHINE_ID, machineVersion: LEASE_MACHINE_VERSION },
  dispatch: { machine: dispatchMachine, machineId: DISPATCH_MACHINE_ID, machineVersion: DISPATCH_MACHINE_VERSION },
  supervisor: { machine: supervisorMachine, machineId: SUPERVISOR_MACHINE_ID, machineVersion: SUPERVISOR_MACHINE_VERSION },
  workspace: { machine: workspaceMachine, machineId: WORKSPACE_MACHINE_ID, machineVersion: WORKSPACE_MACHINE_VERSION },
};

/**
 * `machine` with every invoked actor replaced by one that never sends, completes or fails:
 * only the path's events move it. Its guards, actions and delays — a host's own included —
 * stay as provided.
 */
export function inertActors(machine: AnyStateMachine): AnyStateMachine {
  const names = Object.keys(machine.implementations.actors);
  return machine.provide({ actors: Object.fromEntries(names.map((name) => [name, INERT])) });
}

/** The runtime's definitions of the four kinds, `machine` standing in for its own kind, all with inert actors. */
function definitionsWith(kind: ActorKind, machine: AnyStateMachine): Record<ActorKind, MachineDefinition> {
  const define = (k: ActorKind): MachineDefinition => {
    const base = BUILT_IN[k];
    return { kind: k, machine: inertActors(k === kind ? machine : base.machine), machineId: base.machineId, machineVersion: base.machineVersion };
  };
  return { worker: define('worker'), lease: define('lease'), dispatch: define('dispatch'), supervisor: define('supervisor'), workspace: define('workspace') };
}

/**
 * Runs one path of {@link createModel} against the runtime's real actor host — every
 * transition persisted to a new SQLite file in a temp folder (removed afterwards) — and
 * checks the store after every step: the actor's state and status, one journal row per step
 * with its event and states, the persisted context, and the projection row.
 * @returns the final row and journal, to compare runs with and without a crash.
 * @throws ModelPathError at the first step that differs from the model.
 */
export async function runModelPath(spec: ModelSpec, modelPath: ModelPath, options: RunModelPathOptions = {}): Promise<PathRun> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-model-'));
  const file = path.join(dir, 'store.db');
  const clock = createManualClock();
  const errors: Error[] = [];
  const definitions = definitionsWith(spec.kind, spec.machine);
  const hooks = { onTransition: () => {}, onJobFailed: (error: Error) => void errors.push(error) };
  let store = openStoreAt(file);
  let host = new ActorHost(store, clock, definitions, hooks);
  const fail = (step: number, problem: string): never => {
    throw new ModelPathError(modelPath, step, problem);
  };
  try {
    await spec.prepareStore?.(store, clock);
    let hosted = host.create(spec.kind, ACTOR_ID, spec.input);
    await settle(host);
    for (const [i, step] of modelPath.steps.entries()) {
      if (i > 0) {
        if (options.crashAfter === i - 1) {
          host.detachAll();
          await store.close();
          store = openStoreAt(file);
          host = new ActorHost(store, clock, definitions, hooks);
          const record = (await store.getActor(ACTOR_ID)) ?? fail(i, 'no row to restore after the crash');
          const before = modelPath.steps[i - 1]?.state;
          if (before !== undefined && record.state !== stateToString(before.value as StateValue)) fail(i, `restorable row is ${record.state}`);
          hosted = host.restore(record);
          await settle(host);
          if ((await store.journal(ACTOR_ID)).length !== i) fail(i, 'restoring wrote a journal row');
        }
        clock.advance(1_000);
        hosted.actor.send(step.event);
        await settle(host);
      }
      await checkStep(store, spec.kind, modelPath, i, errors, hosted.ended, fail);
    }
    const record = (await store.getActor(ACTOR_ID)) ?? fail(modelPath.steps.length - 1, 'no row');
    return {
      record: { state: record.state, status: record.status, snapshot: record.snapshot },
      journal: (await store.journal(ACTOR_ID)).map((row) => [row.eventType, row.fromState, row.toState] as const),
    };
  } finally {
    host.detachAll();
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Waits until the host's staged transitions are committed; a refused job is recorded by the hooks. */
async function settle(host: ActorHost): Promise<void> {
  await host.committed().then(
    () => undefined,
    () => undefined,
  );
}

async function checkStep(
  store: Store,
  kind: ActorKind,
  modelPath: ModelPath,
  i: number,
  errors: readonly Error[],
  ended: boolean,
  fail: (step: number, problem: string) => never,
): Promise<void> {
  const step = modelPath.steps[i];
  if (step === undefined) return;
  const expected = stateToString(step.state.value as StateValue);
  if (errors.length > 0) fail(i, `write refused: ${errors.map((error) => error.message).join('; ')}`);
  const record = (await store.getActor(ACTOR_ID)) ?? fail(i, 'no actor row');
  if (record.state !== expected) fail(i, `state is ${record.state}, the model says ${expected}`);
  const status = step.state.status === 'done' ? 'done' : 'active';
  if (record.status !== status) fail(i, `status is ${record.status}, the model says ${status}`);
  const journal = await store.journal(ACTOR_ID);
  if (journal.length !== i + 1) fail(i, `${journal.length} journal rows, expected ${i + 1}`);
  const last = journal.at(-1);
  const previous = modelPath.steps[i - 1] as { state: AnyMachineSnapshot } | undefined;
  const from = previous === undefined ? null : stateToString(previous.state.value as StateValue);
  if (last?.eventType !== step.event.type || last.fromState !== from || last.toState !== expected) {
    fail(i, `journal row is ${last?.eventType} ${last?.fromState} → ${last?.toState}, expected ${step.event.type} ${from} → ${expected}`);
  }
  const persisted = canonical((JSON.parse(record.snapshot) as { context?: unknown }).context);
  const modelled = canonical(JSON.parse(JSON.stringify(step.state.context)) as unknown);
  if (persisted !== modelled) fail(i, `persisted context ${persisted} differs from the model's ${modelled}`);
  const projected = await projectedState(store, kind);
  if (projected !== topState(expected)) fail(i, `projection state is ${projected}, expected ${topState(expected)}`);
  if (ended !== (step.state.status === 'done')) fail(i, ended ? 'the host ended the actor early' : 'the actor did not end in a final state');
}

async function projectedState(store: Store, kind: ActorKind): Promise<string | undefined> {
  const rows: Record<ActorKind, () => Promise<readonly { id: string; state: string }[]>> = {
    worker: () => store.listWorkers(),
    lease: () => store.listLeases(),
    dispatch: () => store.listDispatches(),
    supervisor: () => store.listSupervisors(),
    workspace: () => store.listWorkspaces(),
  };
  return (await rows[kind]()).find((row) => row.id === ACTOR_ID)?.state;
}

/** JSON with object keys sorted, so that equal data compares equal whatever the key order. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Steps after which a crash leaves events to send: 0 (right after creation) to the second-to-last. */
export function crashPoints(modelPath: ModelPath): number[] {
  return Array.from({ length: Math.max(0, modelPath.steps.length - 1) }, (_, k) => k);
}

/**
 * Runs `modelPath` once without a crash, then once with a crash-and-restore after each of
 * its {@link crashPoints}, and checks that every run ends with the same final row and journal.
 * @throws ModelPathError from any run, or when a crashed run ends differently.
 */
export async function checkCrashRecovery(spec: ModelSpec, modelPath: ModelPath): Promise<void> {
  const expected = JSON.stringify(await runModelPath(spec, modelPath));
  for (const crashAfter of crashPoints(modelPath)) {
    const actual = JSON.stringify(await runModelPath(spec, modelPath, { crashAfter }));
    if (actual !== expected) {
      throw new ModelPathError(modelPath, crashAfter + 1, `after a crash at step ${crashAfter} the run ended as ${actual}, without it as ${expected}`);
    }
  }
}
