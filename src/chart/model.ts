import type { AnyStateMachine, AnyStateNode, AnyTransitionDefinition } from 'xstate';
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';

/** What a state node is, as drawn: XState's node types, one box style each. */
export type ChartNodeKind = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/**
 * A transition as the reader sees it: the event it takes and a readable label.
 *
 * - `event`: the XState event descriptor, unchanged (`''` for eventless `always`,
 *   `xstate.after.1000.worker.booting` for a delay, `*` for the wildcard), so a viewer can match
 *   it against the event types it records.
 * - `label`: `event`, made readable (`always`, `after 1000ms`, `done: prepare`, `error: prepare`,
 *   `done`), followed by ` [guard]` when the transition is guarded.
 * - `guard`: the guard's name (a referenced guard's `type`, an inline guard's function name or
 *   `guard`; higher-order guards as `and(a, b)`, `or(a, b)`, `not(a)`).
 */
export interface ChartLabel {
  event: string;
  label: string;
  guard?: string;
}

/** One state node of a {@link Chart}, with its children in definition order. */
export interface ChartNode {
  /** The XState state node id (`dispatch.pending.backoff`, or a custom `#id`). */
  id: string;
  /** The node's key in its parent (the machine id for the root). */
  key: string;
  /** Keys from the root joined with `.`: `''` for the root, `pending.backoff` for a grandchild. */
  path: string;
  kind: ChartNodeKind;
  /** For `history` nodes only: which history it restores. */
  history?: 'shallow' | 'deep';
  /** True when the node is the initial child of its compound parent (never for regions or the root). */
  initial: boolean;
  /** `src` of each invoked actor, in definition order (the invoke `id` for inline actor logic). */
  invokes: string[];
  /** Targetless transitions: handled in the state without leaving it, drawn inside its box. */
  internal: ChartLabel[];
  /** Child states; for a `parallel` node, its regions. */
  children: ChartNode[];
}

/** A transition from one state to another (or to itself, when it re-enters). */
export interface ChartEdge extends ChartLabel {
  /** Unique within the chart: `e0`, `e1`, … in definition order. */
  id: string;
  /** {@link ChartNode.path} of the state that declares the transition. */
  source: string;
  /** {@link ChartNode.path} of the target state (one edge per target of a multi-target transition). */
  target: string;
  /** True for `reenter: true` transitions (the target is exited and entered again). */
  reenter: boolean;
}

/** A statechart ready to be laid out or printed: the state tree and every targeted transition. */
export interface Chart {
  /** The machine's `id` (its root state's key). */
  machineId: string;
  root: ChartNode;
  /** Targeted transitions in definition order (depth-first, a state's own before its children's). */
  edges: ChartEdge[];
}

const INLINE_INVOKE_PREFIX = 'xstate.invoke.';

/**
 * Reads a machine definition into a {@link Chart}: the state tree (walked with
 * `toDirectedGraph` from `xstate/graph`) and its transitions, with readable labels. Works on a
 * pure definition; nothing is started and no implementation needs to be provided.
 *
 * @example
 * const chart = chartFromMachine(dispatchMachine);
 * chart.root.children.map((c) => c.path); // ['pending', 'claimed', 'running', …]
 */
export function chartFromMachine(machine: AnyStateMachine): Chart {
  const edges: ChartEdge[] = [];
  const root = readNode(toDirectedGraph(machine), edges);
  return { machineId: machine.root.key, root, edges };
}

/**
 * What a state does without leaving it, one line each: `invoke <src>` per invoked actor, then
 * `on <label>` per targetless transition. Drawn under the state's key.
 */
export function detailLines(node: ChartNode): string[] {
  return [...node.invokes.map((src) => `invoke ${src}`), ...node.internal.map((t) => `on ${t.label}`)];
}

function readNode(graph: DirectedGraphNode, edges: ChartEdge[]): ChartNode {
  const node = graph.stateNode;
  const internal: ChartLabel[] = [];
  const transitions = [...graph.edges.map((edge) => edge.transition), ...(node.always ?? [])];
  const seen = new Set<AnyTransitionDefinition>();
  for (const transition of transitions) {
    // toDirectedGraph gives one edge per target; read each transition once.
    if (seen.has(transition)) continue;
    seen.add(transition);
    const label = labelOf(transition);
    if (transition.target === undefined || transition.target.length === 0) {
      internal.push(label);
      continue;
    }
    for (const target of transition.target) {
      edges.push({ id: `e${edges.length}`, source: pathOf(node), target: pathOf(target), reenter: transition.reenter, ...label });
    }
  }
  const chartNode: ChartNode = {
    id: node.id,
    key: node.key,
    path: pathOf(node),
    kind: node.type,
    initial: isInitialChild(node),
    invokes: node.invoke.map((invoke) => (typeof invoke.src === 'string' && !invoke.src.startsWith(INLINE_INVOKE_PREFIX) ? invoke.src : invoke.id)),
    internal,
    children: [],
  };
  if (node.type === 'history') chartNode.history = node.history === 'deep' ? 'deep' : 'shallow';
  chartNode.children = graph.children.map((child) => readNode(child, edges));
  return chartNode;
}

function pathOf(node: AnyStateNode): string {
  return node.path.join('.');
}

function isInitialChild(node: AnyStateNode): boolean {
  const parent = node.parent;
  return parent !== undefined && parent.type === 'compound' && parent.initial.target.includes(node);
}

function labelOf(transition: AnyTransitionDefinition): ChartLabel {
  // Typed `any` by the machine's `any` event type; always a string.
  const event = String(transition.eventType);
  const guard = transition.guard === undefined ? undefined : guardName(transition.guard);
  const readable = readableEvent(event, transition);
  return guard === undefined ? { event, label: readable } : { event, label: `${readable} [${guard}]`, guard };
}

function readableEvent(event: string, transition: AnyTransitionDefinition): string {
  if (event === '') return 'always';
  if (event.startsWith('xstate.after.')) {
    // Delayed transitions carry their delay: ms, or the name of a delay from `setup`.
    const delay: unknown = (transition as { delay?: unknown }).delay;
    return typeof delay === 'number' ? `after ${delay}ms` : `after ${String(delay)}`;
  }
  const invoked = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
  if (invoked) return `${invoked[1]}: ${invoked[2]}`;
  if (event.startsWith('xstate.done.state.')) return 'done';
  const snapshot = /^xstate\.snapshot\.(.+)$/.exec(event);
  if (snapshot) return `snapshot: ${snapshot[1]}`;
  return event;
}

function guardName(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const inner: unknown = (guard as { guards?: unknown }).guards;
    const name = guard.name === '' ? 'guard' : guard.name;
    if (Array.isArray(inner) && (name === 'and' || name === 'or' || name === 'not')) {
      return `${name}(${inner.map(guardName).join(', ')})`;
    }
    return name;
  }
  if (typeof guard === 'object' && guard !== null && typeof (guard as { type?: unknown }).type === 'string') {
    return (guard as { type: string }).type;
  }
  return 'guard';
}
