import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api.js';
import { BOX_PADDING, FINAL_INSET, HISTORY_SIZE, LINE_HEIGHT, MARKER_SIZE, MIN_BOX_WIDTH, headerHeight, textWidth } from './metrics.js';
import { detailLines, type Chart, type ChartEdge, type ChartLabel, type ChartNode, type ChartNodeKind } from './model.js';

const INITIAL_EDGE_PREFIX = 'initial-edge:';
const GRAPH_ID = 'graph';

/** A point in diagram coordinates (px, origin top-left, y down). */
export interface LayoutPoint {
  x: number;
  y: number;
}

/** A rectangle in diagram coordinates: top-left corner and size, in px. */
export interface LayoutRect extends LayoutPoint {
  width: number;
  height: number;
}

/** A state's box. A `history` box is the square the circle is drawn in. */
export interface LayoutBox extends LayoutRect {
  path: string;
  key: string;
  kind: ChartNodeKind;
  history?: 'shallow' | 'deep';
  /** True when the box is a region of a parallel state (drawn dashed). */
  region: boolean;
  /** Lines drawn under the key: {@link detailLines}. */
  details: string[];
  /** Height of the key and details area from the box's top, in px; children sit below it. */
  headerHeight: number;
}

/** A transition's route: polyline from its source box's border to its target box's border. */
export interface LayoutEdge extends ChartLabel {
  id: string;
  source: string;
  target: string;
  reenter: boolean;
  /** Start point, bend points, end point (the arrowhead goes at the end). */
  points: LayoutPoint[];
  /** Where the label text goes (its box, LINE_HEIGHT high). */
  labelBox: LayoutRect;
}

/** The initial marker of a compound state: a dot with an arrow to the initial child. */
export interface LayoutInitial {
  /** Path of the compound state. */
  parent: string;
  /** Path of its initial child. */
  target: string;
  /** Centre of the dot. */
  center: LayoutPoint;
  points: LayoutPoint[];
}

/**
 * A laid-out chart: absolute coordinates (px) of every box, initial marker and edge. Boxes
 * come parents first, in definition order, so drawing them in order nests them correctly.
 */
export interface ChartLayout {
  machineId: string;
  width: number;
  height: number;
  boxes: LayoutBox[];
  initials: LayoutInitial[];
  edges: LayoutEdge[];
}

/** Options of the whole layout, read from the top-level graph only. */
const GRAPH_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.hierarchyHandling': 'INCLUDE_CHILDREN',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.padding': '[top=12,left=12,bottom=12,right=12]',
};

/**
 * Spacing (px) ELK reads from the node whose children it places, so each compound state
 * carries it. ELK's own model-order options cannot be used: with `INCLUDE_CHILDREN` they fail
 * on nested graphs (eclipse-elk/elk#1182), so back edges are reversed before layout instead.
 */
const LEVEL_OPTIONS: Record<string, string> = {
  'elk.layered.spacing.nodeNodeBetweenLayers': '36',
  'elk.layered.spacing.edgeNodeBetweenLayers': '16',
  'elk.spacing.nodeNode': '28',
  'elk.spacing.edgeNode': '16',
  'elk.spacing.edgeEdge': '12',
  'elk.spacing.edgeLabel': '4',
};

/**
 * Lays a chart out with ELK's layered algorithm over the whole hierarchy
 * (`elk.hierarchyHandling: INCLUDE_CHILDREN`), top to bottom: states are boxes nested in their
 * parents' boxes, the machine root the outermost one, and transitions may cross levels. States
 * flow in definition order: a transition to a state defined earlier is laid out as a back
 * edge. Text is measured by character count (see `metrics.ts`), so the same chart
 * always gives the same layout, to the byte, when serialised.
 * @throws Error when ELK fails on the graph (a bug of the chart or of ELK, not of the input).
 */
export async function layoutChart(chart: Chart): Promise<ChartLayout> {
  const parents = new Map<string, ChartNode>();
  const order = new Map<string, number>();
  indexTree(chart.root, parents, order);
  const backEdges = new Set<string>();
  const graph: ElkNode = { id: GRAPH_ID, layoutOptions: { ...GRAPH_OPTIONS, ...LEVEL_OPTIONS }, children: [elkNode(chart.root)] };
  const containers = indexElk(graph);
  for (const edge of chart.edges) {
    const back = (order.get(edge.source) ?? 0) > (order.get(edge.target) ?? 0);
    if (back) backEdges.add(edge.id);
    const container = mustGet(containers, edgeContainer(edge, parents));
    (container.edges ??= []).push(elkEdge(edge, back));
  }
  // elkjs is CommonJS: Node's default import is `module.exports`, whose `default` is the class too.
  const laid = await new ELK.default().layout(graph);
  const laidNodes = indexElk(laid);
  const origins = new Map<string, LayoutPoint>([[GRAPH_ID, { x: 0, y: 0 }]]);
  collectOrigins(laid, { x: 0, y: 0 }, origins);
  const boxes: LayoutBox[] = [];
  readBoxes(chart.root, false, laidNodes, origins, boxes);
  const boxByPath = new Map(boxes.map((box) => [box.path, box]));
  const initials: LayoutInitial[] = [];
  const edges: LayoutEdge[] = [];
  const chartEdges = new Map(chart.edges.map((edge) => [edge.id, edge]));
  forEachEdge(laid, (elkEdge) => {
    const origin = origins.get(elkEdge.container ?? GRAPH_ID) ?? { x: 0, y: 0 };
    const points = (elkEdge.sections ?? []).flatMap((s) => [s.startPoint, ...(s.bendPoints ?? []), s.endPoint]).map((p) => shift(p, origin));
    const sourcePath = pathOfStateId(elkEdge.sources[0]);
    const from = sourcePath === undefined ? undefined : boxByPath.get(sourcePath);
    if (from !== undefined) startBelowHeader(points, from);
    const edge = chartEdges.get(elkEdge.id);
    if (edge === undefined) {
      const parent = elkEdge.id.slice(INITIAL_EDGE_PREFIX.length);
      const marker = boxOf(laidNodes, origins, markerId(parent));
      const center = { x: marker.x + MARKER_SIZE / 2, y: marker.y + MARKER_SIZE / 2 };
      initials.push({ parent, target: pathOfStateId(elkEdge.targets[0]) ?? '', center: round(center), points: points.map(round) });
      return;
    }
    if (backEdges.has(edge.id)) points.reverse();
    const label = elkEdge.labels?.[0] ?? {};
    const labelBox = { x: (label.x ?? 0) + origin.x, y: (label.y ?? 0) + origin.y, width: label.width ?? 0, height: label.height ?? 0 };
    edges.push({ ...edge, points: points.map(round), labelBox: roundRect(labelBox) });
  });
  const edgeOrder = new Map(chart.edges.map((edge, i) => [edge.id, i]));
  edges.sort((a, b) => (edgeOrder.get(a.id) ?? 0) - (edgeOrder.get(b.id) ?? 0));
  initials.sort((a, b) => (order.get(a.parent) ?? 0) - (order.get(b.parent) ?? 0));
  return { machineId: chart.machineId, width: roundPx(laid.width ?? 0), height: roundPx(laid.height ?? 0), boxes, initials, edges };
}

/**
 * ELK starts an edge from a state into its own descendant on the state's top border, across
 * its key; the start moves down to the header's rule, so the edge leaves the state's body.
 */
function startBelowHeader(points: LayoutPoint[], from: LayoutBox): void {
  const [start, next] = points;
  if (start === undefined || next === undefined) return;
  const onTopBorder = Math.abs(start.y - from.y) < 0.5 && start.x > from.x && start.x < from.x + from.width;
  const headerBottom = from.y + from.headerHeight;
  if (onTopBorder && next.x === start.x && next.y > headerBottom) start.y = headerBottom;
}

function elkNode(node: ChartNode): ElkNode {
  const header = headerHeight(node);
  const textSpan = Math.max(...[node.key, ...detailLines(node)].map(textWidth)) + 2 * BOX_PADDING;
  if (node.kind === 'history') return { id: stateId(node.path), width: HISTORY_SIZE, height: HISTORY_SIZE };
  if (node.children.length === 0) {
    const inset = node.kind === 'final' ? 2 * FINAL_INSET : 0;
    return { id: stateId(node.path), width: Math.max(MIN_BOX_WIDTH, textSpan) + inset, height: header + BOX_PADDING + inset };
  }
  const children: ElkNode[] = [];
  const edges: ElkExtendedEdge[] = [];
  const initial = node.kind === 'compound' ? node.children.find((child) => child.initial) : undefined;
  if (initial !== undefined) {
    children.push({ id: markerId(node.path), width: MARKER_SIZE, height: MARKER_SIZE });
    edges.push({ id: `${INITIAL_EDGE_PREFIX}${node.path}`, sources: [markerId(node.path)], targets: [stateId(initial.path)] });
  }
  children.push(...node.children.map(elkNode));
  return {
    id: stateId(node.path),
    layoutOptions: {
      ...LEVEL_OPTIONS,
      'elk.padding': `[top=${header + BOX_PADDING},left=${BOX_PADDING * 2},bottom=${BOX_PADDING * 2},right=${BOX_PADDING * 2}]`,
      'elk.nodeSize.constraints': 'MINIMUM_SIZE',
      'elk.nodeSize.minimum': `(${Math.max(MIN_BOX_WIDTH, textSpan)}, ${header + BOX_PADDING})`,
    },
    children,
    edges,
  };
}

/** A back edge goes to ELK reversed, so the layout follows definition order; its route is reversed back after. */
function elkEdge(edge: ChartEdge, back: boolean): ElkExtendedEdge {
  const [from, to] = back ? [edge.target, edge.source] : [edge.source, edge.target];
  return {
    id: edge.id,
    sources: [stateId(from)],
    targets: [stateId(to)],
    labels: [{ text: edge.label, width: textWidth(edge.label) + 8, height: LINE_HEIGHT, layoutOptions: { 'elk.edgeLabels.placement': 'CENTER', 'elk.edgeLabels.inline': 'true' } }],
  };
}

/**
 * ELK id of the node an edge is defined in: the deepest state strictly containing both ends,
 * or, for an edge between a state and its own descendant, that state.
 */
function edgeContainer(edge: ChartEdge, parents: ReadonlyMap<string, ChartNode>): string {
  const chain = (path: string): string[] => {
    const result = [path];
    for (let node = parents.get(path); node !== undefined; node = parents.get(node.path)) result.push(node.path);
    return result;
  };
  const sourceChain = chain(edge.source);
  const targetChain = chain(edge.target);
  if (edge.source !== edge.target) {
    if (targetChain.includes(edge.source)) return stateId(edge.source);
    if (sourceChain.includes(edge.target)) return stateId(edge.target);
  }
  const common = sourceChain.slice(1).find((path) => targetChain.includes(path));
  return common === undefined ? GRAPH_ID : stateId(common);
}

/** Records each state's parent and its position in definition (pre-)order. */
function indexTree(node: ChartNode, parents: Map<string, ChartNode>, order: Map<string, number>): void {
  order.set(node.path, order.size);
  for (const child of node.children) {
    parents.set(child.path, node);
    indexTree(child, parents, order);
  }
}

function readBoxes(node: ChartNode, region: boolean, laid: ReadonlyMap<string, ElkNode>, origins: ReadonlyMap<string, LayoutPoint>, boxes: LayoutBox[]): void {
  const rect = boxOf(laid, origins, stateId(node.path));
  const box: LayoutBox = { path: node.path, key: node.key, kind: node.kind, region, details: detailLines(node), headerHeight: headerHeight(node), ...roundRect(rect) };
  if (node.history !== undefined) box.history = node.history;
  boxes.push(box);
  for (const child of node.children) readBoxes(child, node.kind === 'parallel', laid, origins, boxes);
}

function collectOrigins(node: ElkNode, parentOrigin: LayoutPoint, origins: Map<string, LayoutPoint>): void {
  for (const child of node.children ?? []) {
    const origin = { x: parentOrigin.x + (child.x ?? 0), y: parentOrigin.y + (child.y ?? 0) };
    origins.set(child.id, origin);
    collectOrigins(child, origin, origins);
  }
}

function boxOf(laid: ReadonlyMap<string, ElkNode>, origins: ReadonlyMap<string, LayoutPoint>, id: string): LayoutRect {
  const node = mustGet(laid, id);
  const origin = origins.get(id) ?? { x: 0, y: 0 };
  return { x: origin.x, y: origin.y, width: node.width ?? 0, height: node.height ?? 0 };
}

function indexElk(node: ElkNode, index: Map<string, ElkNode> = new Map()): Map<string, ElkNode> {
  index.set(node.id, node);
  for (const child of node.children ?? []) indexElk(child, index);
  return index;
}

function mustGet<T>(map: ReadonlyMap<string, T>, id: string): T {
  const value = map.get(id);
  if (value === undefined) throw new Error(`chart layout: no node ${id}`);
  return value;
}

function forEachEdge(node: ElkNode, visit: (edge: ElkExtendedEdge) => void): void {
  for (const edge of node.edges ?? []) visit(edge);
  for (const child of node.children ?? []) forEachEdge(child, visit);
}

function stateId(path: string): string {
  return `state:${path}`;
}

function pathOfStateId(id: string | undefined): string | undefined {
  return id?.startsWith('state:') === true ? id.slice('state:'.length) : undefined;
}

function markerId(path: string): string {
  return `initial:${path}`;
}

function shift(point: LayoutPoint, origin: LayoutPoint): LayoutPoint {
  return { x: point.x + origin.x, y: point.y + origin.y };
}

/** Coordinates are kept to 0.01 px, so float noise never reaches the output. */
function roundPx(value: number): number {
  return Math.round(value * 100) / 100;
}

function round(point: LayoutPoint): LayoutPoint {
  return { x: roundPx(point.x), y: roundPx(point.y) };
}

function roundRect(rect: LayoutRect): LayoutRect {
  return { x: roundPx(rect.x), y: roundPx(rect.y), width: roundPx(rect.width), height: roundPx(rect.height) };
}
