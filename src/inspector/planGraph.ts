import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api.js';
import { BOX_PADDING, LINE_HEIGHT, textWidth } from '../chart/metrics.js';

/** A milestone's box in the plan graph, in px (origin top-left, y down). */
export interface PlanGraphNode {
  readonly id: string;
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** A `dependsOn` edge, drawn from the milestone depended on to the one that depends on it. */
export interface PlanGraphEdge {
  /** The milestone that must complete first. */
  readonly source: string;
  readonly target: string;
  /** Start point, bend points, end point. */
  readonly points: readonly { readonly x: number; readonly y: number }[];
}

/** The plan's milestones laid out by ELK's layered algorithm; the page colours the boxes by state. */
export interface PlanGraphLayout {
  readonly width: number;
  readonly height: number;
  readonly nodes: readonly PlanGraphNode[];
  readonly edges: readonly PlanGraphEdge[];
}

/** Lines of text in a milestone's box: its id; units done/total and cost; workspace state. */
export const PLAN_NODE_LINES = 3;
/** Longest milestone id drawn whole; longer ones are cut with an ellipsis (the full id is the box's title). */
export const PLAN_NODE_MAX_CHARS = 40;
/** Narrowest box: fits `9999/9999 · $99.9999` and a workspace state. */
const MIN_NODE_WIDTH = textWidth('9999/9999 · $99.9999') + 2 * BOX_PADDING;

/**
 * Lays out the plan graph: one box per milestone (sized for {@link PLAN_NODE_LINES} lines of
 * 12px monospace text), one edge per `dependsOn`, flowing top to bottom. Milestones without
 * dependencies between them are packed side by side. Deterministic for a given plan.
 * @param milestones in plan order; `dependsOn` naming a milestone not in the list is ignored.
 */
export async function layoutPlanGraph(milestones: readonly { readonly id: string; readonly dependsOn: readonly string[] }[]): Promise<PlanGraphLayout> {
  const ids = new Set(milestones.map((m) => m.id));
  const height = PLAN_NODE_LINES * LINE_HEIGHT + 2 * BOX_PADDING;
  const graph: ElkNode = {
    id: 'plan',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.edgeRouting': 'ORTHOGONAL',
      'elk.spacing.nodeNode': '24',
      'elk.layered.spacing.nodeNodeBetweenLayers': '40',
      'elk.separateConnectedComponents': 'true',
      'elk.spacing.componentComponent': '32',
      'elk.padding': '[top=12,left=12,bottom=12,right=12]',
    },
    children: milestones.map((m) => ({
      id: m.id,
      width: Math.max(MIN_NODE_WIDTH, textWidth(m.id.slice(0, PLAN_NODE_MAX_CHARS + 1)) + 2 * BOX_PADDING),
      height,
    })),
    edges: milestones.flatMap((m) =>
      m.dependsOn.filter((dep) => ids.has(dep)).map((dep) => ({ id: `${dep}->${m.id}`, sources: [dep], targets: [m.id] })),
    ),
  };
  const laid = await new ELK.default().layout(graph);
  const nodes = (laid.children ?? []).map((node) => ({ id: node.id, x: node.x ?? 0, y: node.y ?? 0, width: node.width ?? 0, height: node.height ?? 0 }));
  const edges = (laid.edges ?? []).map((edge) => {
    const section = edge.sections?.[0];
    const points = section === undefined ? [] : [section.startPoint, ...(section.bendPoints ?? []), section.endPoint].map(({ x, y }) => ({ x, y }));
    return { source: edge.sources[0] ?? '', target: edge.targets[0] ?? '', points };
  });
  return { width: laid.width ?? 0, height: laid.height ?? 0, nodes, edges };
}

/** Plan graph layouts by the plan's shape (ids and dependencies), computed once per shape. */
export function createPlanGraphCache(): (milestones: readonly { readonly id: string; readonly dependsOn: readonly string[] }[]) => Promise<PlanGraphLayout> {
  let last: { key: string; layout: Promise<PlanGraphLayout> } | undefined;
  return (milestones) => {
    const key = JSON.stringify(milestones.map((m) => [m.id, m.dependsOn]));
    if (last?.key !== key) {
      const layout = layoutPlanGraph(milestones);
      const entry = { key, layout };
      // A failed layout is reported to this request and computed again by the next one.
      void layout.then(undefined, () => {
        if (last === entry) last = undefined;
      });
      last = entry;
    }
    return last.layout;
  };
}
