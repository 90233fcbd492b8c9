import { detailLines, type Chart, type ChartEdge, type ChartNode } from './model.js';

const INDENT = '  ';
/** Id of the machine's root state (`root` is Mermaid's own name for the diagram). */
const ROOT_ID = 'machine';

/**
 * Prints a chart as Mermaid `stateDiagram-v2` text, for Markdown that renders Mermaid.
 *
 * - The machine root is a composite state with the id `machine`; every other state is declared
 *   `state "<key>" as s_<path>` (the path's `.` and other characters Mermaid ids cannot hold
 *   become `_`, with `_2`, `_3`… added on a clash), composite states with their children in
 *   braces, a parallel state's regions separated by `--`.
 * - `[*] --> <initial>` in each compound state, `<final> --> [*]` for each final state.
 * - Each transition `a --> b : LABEL` sits in the innermost composite containing both ends;
 *   one to or from an enclosing state (root-level `on`) sits just outside that state, and one
 *   between regions just outside the parallel state.
 * - Invokes and targetless transitions are descriptions of atomic and final states
 *   (`s_x : invoke src`) and notes beside composite states.
 * - History states are plain states labelled `<key> (H)` or `<key> (H*)`.
 * - Text Mermaid cannot take (`:`, `;`, `#`, quotes, braces, angle brackets, `%`, `&`) is written
 *   as Mermaid entity codes (`#58;`), which Mermaid shows as the character.
 *
 * The text depends only on the chart, so it is stable for checked-in files.
 */
export function renderChartMermaid(chart: Chart): string {
  const ids = assignIds(chart.root);
  const parents = new Map<string, ChartNode>();
  const nodes = new Map<string, ChartNode>([['', chart.root]]);
  indexTree(chart.root, parents, nodes);
  const edgesByScope = new Map<string, ChartEdge[]>();
  for (const edge of chart.edges) {
    const scope = edgeScope(edge, parents, nodes);
    edgesByScope.set(scope, [...(edgesByScope.get(scope) ?? []), edge]);
  }
  const id = (path: string) => ids.get(path) ?? ROOT_ID;
  const lines = ['stateDiagram-v2'];

  const edgeLines = (scope: string, depth: number) =>
    (edgesByScope.get(scope) ?? []).map((edge) => `${INDENT.repeat(depth)}${id(edge.source)} --> ${id(edge.target)} : ${escape(edge.label)}`);

  const declare = (node: ChartNode, depth: number): void => {
    const pad = INDENT.repeat(depth);
    const label = node.kind === 'history' ? `${node.key} (${node.history === 'deep' ? 'H*' : 'H'})` : node.key;
    if (node.children.length === 0) {
      lines.push(`${pad}state "${escape(label)}" as ${id(node.path)}`);
      for (const detail of detailLines(node)) lines.push(`${pad}${id(node.path)} : ${escape(detail)}`);
      return;
    }
    lines.push(`${pad}state "${escape(label)}" as ${id(node.path)} {`);
    const initial = node.kind === 'compound' ? node.children.find((child) => child.initial) : undefined;
    if (initial !== undefined) lines.push(`${pad}${INDENT}[*] --> ${id(initial.path)}`);
    node.children.forEach((child, i) => {
      if (node.kind === 'parallel' && i > 0) lines.push(`${pad}${INDENT}--`);
      declare(child, depth + 1);
    });
    for (const child of node.children) {
      if (child.kind === 'final') lines.push(`${pad}${INDENT}${id(child.path)} --> [*]`);
    }
    if (node.kind !== 'parallel') lines.push(...edgeLines(insideScope(node.path), depth + 1));
    lines.push(`${pad}}`);
    const details = detailLines(node);
    if (details.length > 0) {
      lines.push(`${pad}note right of ${id(node.path)}`, ...details.map((d) => `${pad}${INDENT}${escape(d)}`), `${pad}end note`);
    }
    // Transitions to or from this state's own descendants, and between its regions.
    lines.push(...edgeLines(outsideScope(node.path), depth));
  };

  declare(chart.root, 1);
  return `${lines.join('\n')}\n`;
}

/** Key of the block inside a composite state. */
function insideScope(path: string): string {
  return `in:${path}`;
}

/** Key of the place just after a composite state's block, in its parent's block. */
function outsideScope(path: string): string {
  return `out:${path}`;
}

/** The block an edge is printed in: see {@link renderChartMermaid}. */
function edgeScope(edge: ChartEdge, parents: ReadonlyMap<string, ChartNode>, nodes: ReadonlyMap<string, ChartNode>): string {
  const chain = (path: string): string[] => {
    const result = [path];
    for (let node = parents.get(path); node !== undefined; node = parents.get(node.path)) result.push(node.path);
    return result;
  };
  const placeIn = (path: string) => (nodes.get(path)?.kind === 'parallel' ? outsideScope(path) : insideScope(path));
  const targetChain = new Set(chain(edge.target));
  const sourceChain = chain(edge.source);
  if (edge.source === edge.target) {
    const parent = parents.get(edge.source);
    return parent === undefined ? outsideScope(edge.source) : placeIn(parent.path);
  }
  if (targetChain.has(edge.source)) return outsideScope(edge.source);
  if (sourceChain.includes(edge.target)) return outsideScope(edge.target);
  return placeIn(sourceChain.find((path) => targetChain.has(path)) ?? '');
}

function assignIds(root: ChartNode): Map<string, string> {
  const ids = new Map<string, string>([['', ROOT_ID]]);
  const taken = new Set([ROOT_ID]);
  const visit = (node: ChartNode): void => {
    for (const child of node.children) {
      const base = `s_${child.path.replace(/[^A-Za-z0-9_]/g, '_')}`;
      let candidate = base;
      for (let n = 2; taken.has(candidate); n++) candidate = `${base}_${n}`;
      taken.add(candidate);
      ids.set(child.path, candidate);
      visit(child);
    }
  };
  visit(root);
  return ids;
}

function indexTree(node: ChartNode, parents: Map<string, ChartNode>, nodes: Map<string, ChartNode>): void {
  for (const child of node.children) {
    parents.set(child.path, node);
    nodes.set(child.path, child);
    indexTree(child, parents, nodes);
  }
}

/** Replaces characters Mermaid's parser would read as syntax with its `#<code>;` entity codes. */
function escape(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[:;#"{}<>%&`]/g, (ch) => `#${ch.charCodeAt(0)};`);
}
