import type { AnyEventObject, AnyMachineSnapshot, AnyStateMachine, AnyStateNode, AnyTransitionDefinition, StateValue } from 'xstate';
import { getInitialSnapshot, getNextSnapshot } from 'xstate';
import { getShortestPaths, getStateNodes, type StatePath } from 'xstate/graph';
import type { Store } from '../../persistence/store.js';
import type { ActorKind } from '../../persistence/types.js';
import type { ManualClock } from '../../core/clock.js';
import { stateToString } from '../projections.js';

/**
 * Model-based testing of statecrew machines (and of a host's provided versions of them):
 * `xstate/graph` shortest paths to every state value and transition, replayed so that each
 * step's snapshot is exact, with the coverage the definition demands and the paths reach.
 */

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
  /**
   * Event sequences run as extra paths, each from the initial state in the order given:
   * context branches coverage does not demand.
   * @throws Error from {@link createModel} when an event of a scenario takes no transition.
   */
  readonly scenarios?: readonly (readonly AnyEventObject[])[];
  /**
   * The facts of the context that the machine's guards read, as a short string: part of each
   * vertex of the traversal (with the state value), so that a guard choosing by context (fix
   * turns left) is explored both ways. Keep it finite: never counters or ids. @default none
   */
  readonly contextKey?: (context: unknown) => string;
  /** Called once on every new store file before the actor is created (e.g. to claim a lease). */
  readonly prepareStore?: (store: Store, clock: ManualClock) => void | Promise<void>;
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

function transitionKey(def: AnyTransitionDefinition): string {
  const branches: readonly AnyTransitionDefinition[] = def.source.transitions.get(def.eventType as string) ?? [];
  const guardName = typeof def.guard === 'object' && 'type' in def.guard ? String(def.guard.type) : 'guard';
  const guard = def.guard === undefined ? '' : ` [${guardName}]`;
  const targets = def.target?.map((t: AnyStateNode) => t.id).join(',') ?? '(self)';
  return `${def.source.id}: ${def.eventType}#${branches.indexOf(def)}${guard} → ${targets}`;
}

/** The transitions of `machine` taken from `snapshot` on `event`, keyed by atomic source state. */
export function takenEdges(machine: AnyStateMachine, snapshot: AnyMachineSnapshot, event: AnyEventObject): string[] {
  const from = stateToString(snapshot.value as StateValue);
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

const valueKey = (snapshot: AnyMachineSnapshot): string => stateToString(snapshot.value as StateValue);

/**
 * Shortest paths to every (state value, incoming transition) vertex, deduplicated so that no
 * path is a prefix of another. Vertices are serialized from the state VALUE and the transition
 * taken — never the context, whose counters would make the space infinite — so every
 * transition, self-transitions included, is the last step of some path.
 */
export function createModel(spec: ModelSpec): Model {
  const { machine } = spec;
  const changes = (snapshot: AnyMachineSnapshot, event: AnyEventObject): boolean => {
    const next = getNextSnapshot(machine, snapshot, event) as AnyMachineSnapshot;
    return valueKey(next) !== valueKey(snapshot) || JSON.stringify(next.context) !== JSON.stringify(snapshot.context);
  };
  const found = getShortestPaths(machine, {
    input: spec.input,
    events: spec.events,
    filterEvents: (snapshot: AnyMachineSnapshot, event: AnyEventObject) =>
      snapshot.status === 'active' && machine.getTransitionData(snapshot, event).length > 0 && changes(snapshot, event),
    serializeState: (snapshot: AnyMachineSnapshot, event: AnyEventObject | undefined, previous: AnyMachineSnapshot | undefined) => {
      const key = spec.contextKey === undefined ? valueKey(snapshot) : `${valueKey(snapshot)} {${spec.contextKey(snapshot.context)}}`;
      return event === undefined || previous === undefined ? key : `${key} ⟵ ${takenEdges(machine, previous, event).join(' + ')}`;
    },
  }) as StatePath<AnyMachineSnapshot, AnyEventObject>[];
  const sequence = (p: StatePath<AnyMachineSnapshot, AnyEventObject>) => p.steps.map((s) => JSON.stringify(s.event));
  const isPrefix = (short: string[], long: string[]) => short.length < long.length && short.every((e, i) => e === long[i]);
  const paths = found
    .filter((p) => !found.some((other) => isPrefix(sequence(p), sequence(other))))
    .map((p) => replay(spec, p));
  for (const events of spec.scenarios ?? []) paths.push(scenarioPath(spec, events));
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
export function missingCoverage(model: Pick<Model, 'required' | 'covered'>): { states: string[]; transitions: string[]; edges: string[] } {
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

/**
 * A scenario replayed step by step from the initial state. (`getPathsFromEvents` of
 * `xstate/graph` explores every state the events reach first, which never ends for a machine
 * whose context counts turns.)
 */
function scenarioPath(spec: ModelSpec, events: readonly AnyEventObject[]): ModelPath {
  const { machine } = spec;
  let snapshot = getInitialSnapshot(machine, spec.input) as AnyMachineSnapshot;
  const steps: { event: AnyEventObject; state: AnyMachineSnapshot }[] = [{ event: { type: 'xstate.init', input: spec.input }, state: snapshot }];
  events.forEach((event, i) => {
    if (machine.getTransitionData(snapshot, event).length === 0) {
      throw new Error(`scenario step ${i + 1} (${event.type}) takes no transition from ${valueKey(snapshot)}`);
    }
    snapshot = getNextSnapshot(machine, snapshot, event) as AnyMachineSnapshot;
    steps.push({ event, state: snapshot });
  });
  const found = { steps, state: snapshot, weight: events.length };
  return { ...found, description: describePath(found) };
}

function describePath(p: StatePath<AnyMachineSnapshot, AnyEventObject>): string {
  const [first, ...rest] = p.steps;
  const short = (type: string) => type.replace(/^xstate\.(done|error)\.actor\./, '$1.');
  const moves = rest.map((s) => `${short(s.event.type)} → ${valueKey(s.state)}`);
  return [first === undefined ? '?' : valueKey(first.state), ...moves].join(' ─ ');
}

