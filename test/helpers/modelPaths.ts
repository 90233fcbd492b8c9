import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { fromCallback, fromPromise, getInitialSnapshot, getNextSnapshot } from 'xstate';
import type { AnyEventObject, AnyMachineSnapshot, AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { getPathsFromEvents, getShortestPaths, getStateNodes, type StatePath } from 'xstate/graph';
import { dispatchMachine, DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION } from '../../machines/dispatch.js';
import { leaseMachine, LEASE_MACHINE_ID, LEASE_MACHINE_VERSION } from '../../machines/lease.js';
import { supervisorMachine, SUPERVISOR_MACHINE_ID, SUPERVISOR_MACHINE_VERSION } from '../../machines/supervisor.js';
import { workerMachine, WORKER_MACHINE_ID, WORKER_MACHINE_VERSION } from '../../machines/worker.js';
import { SqliteStore } from '../../persistence/sqliteStore.js';
import type { Store } from '../../persistence/store.js';
import type { ActorKind, ActorRecord } from '../../persistence/types.js';
import { ActorHost, type MachineDefinition } from '../../src/actorHost.js';
import { createManualClock, type ManualClock } from '../../src/clock.js';
import { stateToString, topState } from '../../src/projections.js';

/** What a model-based suite needs to know about one machine. */
export interface ModelSpec {
  readonly kind: ActorKind;
  /** The machine as defined (its default implementations are never run: traversal executes no actions). */
  readonly machine: AnyStateMachine;
  readonly input: unknown;
  /**
   * Every event the model may send, with payloads. In each state only those that take a
   * transition and change the snapshot are offered (a no-op event writes no journal row).
   */
  readonly events: readonly AnyEventObject[];
  /** Event sequences run as extra paths (`getPathsFromEvents`): context branches coverage does not demand. */
  readonly scenarios?: readonly (readonly AnyEventObject[])[];
  /** Called once on every new store file before the actor is created (e.g. to claim a lease). */
  readonly prepareStore?: (store: Store, clock: ManualClock) => void;
}

/** One path of the model: `steps[0]` is the initial state (event `xstate.init`), each later step the state after its event. */
export type ModelPath = StatePath<AnyMachineSnapshot, AnyEventObject> & { readonly description: string };

/**
 * States and transitions of a machine definition, or the part of them some paths reach:
 * `states` are state node ids (`dispatch.pending.backoff`), `transitions` transition
 * definitions (`source: EVENT#branch [guard] → target`), `edges` transition definitions per
 * atomic source state, inherited ones included (`pending.ready | dispatch.pending: CANCEL#0 → …`).
 */
export interface Coverage {
  readonly states: ReadonlySet<string>;
  readonly transitions: ReadonlySet<string>;
  readonly edges: ReadonlySet<string>;
}

/** The paths of a machine, what its definition requires and what the paths cover. */
export interface Model {
  readonly spec: ModelSpec;
  readonly paths: readonly ModelPath[];
  readonly required: Coverage;
  readonly covered: Coverage;
}

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
  };
}

function transitionKey(def: AnyTransitionDefinition): string {
  const branches = def.source.transitions.get(def.eventType) ?? [];
  const guardName = typeof def.guard === 'object' && 'type' in def.guard ? String(def.guard.type) : 'guard';
  const guard = def.guard === undefined ? '' : ` [${guardName}]`;
  const targets = def.target?.map((t: AnyStateNode) => t.id).join(',') ?? '(self)';
  return `${def.source.id}: ${def.eventType}#${branches.indexOf(def)}${guard} → ${targets}`;
}

/** The transitions of `machine` taken from `snapshot` on `event`, keyed by atomic source state. */
export function takenEdges(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: AnyEventObject): string[] {
  const from = stateToString(snapshot.value);
  return machine.getTransitionData(snapshot, event).map((def) => `${from} | ${transitionKey(def)}`);
}

/** Every state node, transition definition and (atomic state, transition) pair of a machine definition. */
export function machineCoverage(machine: AnyStateMachine): Coverage {
  const nodes = getStateNodes(machine.root);
  const all = [machine.root, ...nodes];
  const transitions = all.flatMap((node) => [...node.transitions.values()].flat().map(transitionKey));
  const edges: string[] = [];
  for (const atomic of nodes.filter((n) => n.type === 'atomic')) {
    const chain: AnyStateNode[] = [];
    for (let node: AnyStateNode | undefined = atomic; node !== undefined; node = node.parent) chain.push(node);
    chain.forEach((node, depth) => {
      for (const [eventType, defs] of node.transitions) {
        // A descendant's unguarded transition for the same event always wins over this one.
        const shadowed = chain.slice(0, depth).some((inner) => {
          const innerDefs = inner.transitions.get(eventType);
          return innerDefs !== undefined && innerDefs.some((d) => d.guard === undefined);
        });
        if (!shadowed) for (const def of defs) edges.push(`${atomic.path.join('.')} | ${transitionKey(def)}`);
      }
    });
  }
  return { states: new Set(nodes.map((n) => n.id)), transitions: new Set(transitions), edges: new Set(edges) };
}

const valueKey = (snapshot: AnyMachineSnapshot): string => stateToString(snapshot.value);

/**
 * Shortest paths to every (state value, incoming transition) vertex, deduplicated so that no
 * path is a prefix of another. Vertices are serialized from the state VALUE and the transition
 * taken — never the context, whose counters would make the space infinite — so every
 * transition, self-transitions included, is the last step of some path.
 */
export function buildModel(spec: ModelSpec): Model {
  const { machine } = spec;
  const changes = (snapshot: AnyMachineSnapshot, event: AnyEventObject): boolean => {
    const next = getNextSnapshot(machine, snapshot, event) as AnyMachineSnapshot;
    return valueKey(next) !== valueKey(snapshot) || JSON.stringify(next.context) !== JSON.stringify(snapshot.context);
  };
  const found = getShortestPaths(machine, {
    input: spec.input,
    events: spec.events,
    filterEvents: (snapshot, event) =>
      snapshot.status === 'active' && machine.getTransitionData(snapshot, event).length > 0 && changes(snapshot, event),
    serializeState: (snapshot, event, previous) =>
      event === undefined || previous === undefined
        ? valueKey(snapshot)
        : `${valueKey(snapshot)} ⟵ ${takenEdges(machine, previous, event).join(' + ')}`,
  }) as StatePath<AnyMachineSnapshot, AnyEventObject>[];
  const sequence = (p: StatePath<AnyMachineSnapshot, AnyEventObject>) => p.steps.map((s) => JSON.stringify(s.event));
  const isPrefix = (short: string[], long: string[]) => short.length < long.length && short.every((e, i) => e === long[i]);
  const paths = found
    .filter((p) => !found.some((other) => isPrefix(sequence(p), sequence(other))))
    .map((p) => replay(spec, p));
  for (const events of spec.scenarios ?? []) {
    // getPathsFromEvents ignores `input` when it builds a machine's initial snapshot: pass it as `fromState`.
    const fromState = getInitialSnapshot(machine, spec.input) as AnyMachineSnapshot;
    const [scenario] = getPathsFromEvents(machine, [...events], { input: spec.input, fromState });
    if (scenario === undefined) throw new Error(`scenario ${events.map((e) => e.type).join(', ')} yields no path`);
    paths.push(replay(spec, scenario as StatePath<AnyMachineSnapshot, AnyEventObject>));
  }
  return { spec, paths, required: machineCoverage(machine), covered: pathCoverage(machine, paths) };
}

/** What a set of paths reaches: active state nodes of every step and every transition taken. */
export function pathCoverage(machine: AnyStateMachine, paths: readonly StatePath<AnyMachineSnapshot, AnyEventObject>[]): Coverage {
  const [states, transitions, edges] = [new Set<string>(), new Set<string>(), new Set<string>()];
  for (const p of paths) {
    p.steps.forEach((step, i) => {
      for (const node of step.state._nodes) if (node !== machine.root) states.add(node.id);
      const previous = p.steps[i - 1];
      if (previous === undefined) return;
      for (const def of machine.getTransitionData(previous.state, step.event)) transitions.add(transitionKey(def));
      for (const edge of takenEdges(machine, previous.state, step.event)) edges.add(edge);
    });
  }
  return { states, transitions, edges };
}

/** Parts of `required` that `covered` misses (empty arrays when everything is covered). */
export function missing(model: Pick<Model, 'required' | 'covered'>): { states: string[]; transitions: string[]; edges: string[] } {
  const diff = (all: ReadonlySet<string>, got: ReadonlySet<string>) => [...all].filter((x) => !got.has(x)).sort();
  return {
    states: diff(model.required.states, model.covered.states),
    transitions: diff(model.required.transitions, model.covered.transitions),
    edges: diff(model.required.edges, model.covered.edges),
  };
}

/**
 * Recomputes the snapshots of a path by sending its events to the machine from its initial
 * state. The graph keeps one snapshot per serialized vertex (the last one seen), so with a
 * value-only serialization a step's `state.context` may come from a different route.
 * @throws Error when a step of the path takes no transition or reaches another state value.
 */
function replay(spec: ModelSpec, found: StatePath<AnyMachineSnapshot, AnyEventObject>): ModelPath {
  const { machine } = spec;
  let snapshot = getInitialSnapshot(machine, spec.input) as AnyMachineSnapshot;
  const steps = found.steps.map((step, i) => {
    if (i > 0) {
      if (machine.getTransitionData(snapshot, step.event).length === 0) {
        throw new Error(`path step ${i} (${step.event.type}) takes no transition from ${valueKey(snapshot)}`);
      }
      snapshot = getNextSnapshot(machine, snapshot, step.event) as AnyMachineSnapshot;
    }
    if (valueKey(snapshot) !== valueKey(step.state)) {
      throw new Error(`path step ${i} (${step.event.type}) reaches ${valueKey(snapshot)}, the graph says ${valueKey(step.state)}`);
    }
    return { event: step.event, state: snapshot };
  });
  const replayed = { steps, state: snapshot, weight: found.weight };
  return { ...replayed, description: describePath(replayed) };
}

function describePath(p: StatePath<AnyMachineSnapshot, AnyEventObject>): string {
  const [first, ...rest] = p.steps;
  const short = (type: string) => type.replace(/^xstate\.(done|error)\.actor\./, '$1.');
  const moves = rest.map((s) => `${short(s.event.type)} → ${valueKey(s.state)}`);
  return [first === undefined ? '?' : valueKey(first.state), ...moves].join(' ─ ');
}

/** What a run left in the store: the final row and the journal as (event, from, to) triples. */
export interface RunResult {
  readonly record: Pick<ActorRecord, 'state' | 'status' | 'snapshot'>;
  readonly journal: readonly (readonly [string, string | null, string])[];
}

const ACTOR_ID = 'model-actor';

function projectedState(store: Store, kind: ActorKind, id: string): string | undefined {
  const list: Record<ActorKind, () => readonly { id: string; state: string }[]> = {
    worker: () => store.listWorkers(),
    lease: () => store.listLeases(),
    dispatch: () => store.listDispatches(),
    supervisor: () => store.listSupervisors(),
  };
  const rows = list[kind]();
  return rows.find((row) => row.id === id)?.state;
}

/**
 * Runs one path against the real (inert) machine hosted by a real {@link ActorHost} on a new
 * SQLite file, checking the store after every step. With `crashAfter: k` the host is detached
 * after step k, and a new host on a new connection to the same file restores the actor and
 * sends the remaining events.
 */
export function runPath(spec: ModelSpec, modelPath: ModelPath, options: { crashAfter?: number } = {}): RunResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-model-'));
  const file = path.join(dir, 'store.db');
  const clock = createManualClock();
  const errors: Error[] = [];
  const definitions = inertDefinitions();
  const hooks = { onTransition: () => {}, onPersistError: (_id: string, _kind: ActorKind, error: Error) => void errors.push(error) };
  let store = SqliteStore.fromPath(file);
  let host = new ActorHost(store, clock, definitions, hooks);
  try {
    spec.prepareStore?.(store, clock);
    let hosted = host.create(spec.kind, ACTOR_ID, spec.input);
    modelPath.steps.forEach((step, i) => {
      const expected = valueKey(step.state);
      if (i > 0) {
        if (options.crashAfter === i - 1) {
          host.detachAll();
          store.close();
          store = SqliteStore.fromPath(file);
          host = new ActorHost(store, clock, definitions, hooks);
          const record = store.getActor(ACTOR_ID);
          expect(record?.state, 'restorable row').toBe(valueKey(modelPath.steps[i - 1]?.state ?? step.state));
          hosted = host.restore(record as ActorRecord);
          expect(store.journal(ACTOR_ID), 'restoring writes no journal row').toHaveLength(i);
        }
        clock.advance(1_000);
        hosted.actor.send(step.event);
      }
      expect(errors, `persist errors after step ${i}`).toEqual([]);
      const record = store.getActor(ACTOR_ID);
      const journal = store.journal(ACTOR_ID);
      const last = journal.at(-1);
      const previous = modelPath.steps[i - 1];
      expect(record?.state, `state after step ${i} (${step.event.type})`).toBe(expected);
      expect(record?.status).toBe(step.state.status === 'done' ? 'done' : 'active');
      expect(journal, `journal rows after step ${i}`).toHaveLength(i + 1);
      expect([last?.eventType, last?.fromState, last?.toState]).toEqual([
        step.event.type,
        previous === undefined ? null : valueKey(previous.state),
        expected,
      ]);
      expect(JSON.parse(record?.snapshot ?? '{}').context, 'persisted context').toEqual(JSON.parse(JSON.stringify(step.state.context)));
      expect(projectedState(store, spec.kind, ACTOR_ID), 'projection state').toBe(topState(expected));
      expect(hosted.ended).toBe(step.state.status === 'done');
    });
    const record = store.getActor(ACTOR_ID) as ActorRecord;
    return {
      record: { state: record.state, status: record.status, snapshot: record.snapshot },
      journal: store.journal(ACTOR_ID).map((j) => [j.eventType, j.fromState, j.toState] as const),
    };
  } finally {
    host.detachAll();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Steps after which a crash leaves events to send: 0 (right after creation) to the second-to-last. */
export function crashPoints(modelPath: ModelPath): number[] {
  return Array.from({ length: Math.max(0, modelPath.steps.length - 1) }, (_, k) => k);
}

/**
 * Declares two tests per path of `model`: every step persisted (state, journal row,
 * projection), and the same final persisted state after a crash-and-restore at any step.
 */
export function describeModelPaths(spec: ModelSpec, model: Model): void {
  for (const modelPath of model.paths) {
    describe(modelPath.description, () => {
      it('persists every step: state, journal row and projection', () => {
        runPath(spec, modelPath);
      });

      it('ends in the same persisted state after a crash-and-restore at any step', () => {
        const expected = runPath(spec, modelPath);
        for (const k of crashPoints(modelPath)) {
          expect(runPath(spec, modelPath, { crashAfter: k }), `crash after step ${k}`).toEqual(expected);
        }
      });
    });
  }
}
