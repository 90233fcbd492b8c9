import type { ChartLayout, LayoutBox, LayoutEdge, LayoutInitial, LayoutPoint } from './layout.js';
import { BOX_PADDING, CHAR_WIDTH, FINAL_INSET, LINE_HEIGHT } from './metrics.js';

/** Options of {@link renderChartSvg}. */
export interface ChartSvgOptions {
  /**
   * Paths (`ChartNode.path`, `''` for the root) of the states to highlight: their groups
   * get `sc-active`, and edges leaving them `sc-from-active`. Unknown paths are ignored.
   * @default []
   */
  activePaths?: readonly string[];
  /** Heading drawn above the diagram and used as its `<title>`. @default no heading */
  title?: string;
}

/** Height of the heading band drawn when a title is given, in px. */
const TITLE_HEIGHT = 28;
/** Baseline of a line of 12px text from the line's top, in px. */
const BASELINE = 12;

const STYLE = `
.sc-chart { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; font-size: 12px; }
.sc-background { fill: #ffffff; }
.sc-heading { font-size: 14px; font-weight: bold; fill: #0f172a; }
.sc-state > rect, .sc-state > circle { fill: #ffffff; stroke: #64748b; stroke-width: 1.5; }
.sc-state.sc-compound > rect, .sc-state.sc-parallel > rect { fill: #f8fafc; }
.sc-state.sc-region > rect { fill: #f1f5f9; stroke-dasharray: 6 4; }
.sc-state > .sc-key { font-weight: bold; fill: #0f172a; }
.sc-state > .sc-detail { font-style: italic; fill: #475569; }
.sc-state > line { stroke: #cbd5e1; stroke-width: 1; }
.sc-state.sc-active > rect { fill: #fcd34d; stroke: #b45309; stroke-width: 3; }
.sc-state.sc-compound.sc-active > rect, .sc-state.sc-parallel.sc-active > rect { fill: #fef3c7; }
.sc-edge > path { fill: none; stroke: #64748b; stroke-width: 1.25; marker-end: url(#sc-arrow); }
.sc-edge > rect { fill: #ffffff; fill-opacity: 0.85; }
.sc-edge > text { fill: #334155; }
.sc-edge.sc-from-active > path { stroke: #b45309; stroke-width: 2.5; marker-end: url(#sc-arrow-active); }
.sc-edge.sc-from-active > text { fill: #92400e; font-weight: bold; }
.sc-initial > circle { fill: #0f172a; }
.sc-initial > path { fill: none; stroke: #0f172a; stroke-width: 1.25; marker-end: url(#sc-arrow-initial); }
.sc-arrowhead { fill: #64748b; }
.sc-arrowhead-active { fill: #b45309; }
.sc-arrowhead-initial { fill: #0f172a; }
`;

/**
 * Renders a laid-out chart as a standalone SVG document: no scripts, external fonts or links;
 * a monospace font; the style embedded. The structure is a contract for viewers that
 * highlight states by adding classes:
 *
 * - each state: `<g class="sc-state sc-<kind>" data-path="<path>">` with its `<rect>` (a
 *   `<circle>` for history states) and text; regions of a parallel state also have `sc-region`;
 * - each transition: `<g class="sc-edge" data-source="<path>" data-target="<path>"
 *   data-event="<event descriptor>">` with a `<path>` ending in an arrowhead and a `<text>` label;
 * - `.sc-state.sc-active > rect` and `.sc-edge.sc-from-active` are styled as highlighted.
 *
 * Final states have a double border, history states are circles marked `H` (shallow) or `H*`
 * (deep), regions have dashed borders, and initial states are pointed at by a dot and arrow.
 * The output is a pure function of its arguments.
 */
export function renderChartSvg(layout: ChartLayout, options: ChartSvgOptions = {}): string {
  const active = new Set(options.activePaths ?? []);
  const top = options.title === undefined ? 0 : TITLE_HEIGHT;
  const width = num(Math.max(layout.width, options.title === undefined ? 0 : (options.title.length + 4) * CHAR_WIDTH * (14 / 12)));
  const height = num(layout.height + top);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="sc-chart" data-machine="${xml(layout.machineId)}" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}">`,
  ];
  if (options.title !== undefined) out.push(`<title>${xml(options.title)}</title>`);
  out.push(`<style>${STYLE}</style>`);
  out.push('<defs>', arrowMarker('sc-arrow', 'sc-arrowhead'), arrowMarker('sc-arrow-active', 'sc-arrowhead-active'), arrowMarker('sc-arrow-initial', 'sc-arrowhead-initial'), '</defs>');
  out.push(`<rect class="sc-background" x="0" y="0" width="${width}" height="${height}"/>`);
  if (options.title !== undefined) out.push(`<text class="sc-heading" x="12" y="${num(top - 8)}">${xml(options.title)}</text>`);
  out.push(top === 0 ? '<g>' : `<g transform="translate(0 ${top})">`);
  for (const box of layout.boxes) out.push(renderState(box, active.has(box.path)));
  for (const initial of layout.initials) out.push(renderInitial(initial));
  for (const edge of layout.edges) out.push(renderEdge(edge, active.has(edge.source)));
  out.push('</g>', '</svg>');
  return `${out.join('\n')}\n`;
}

function renderState(box: LayoutBox, active: boolean): string {
  const classes = ['sc-state', `sc-${box.kind}`, ...(box.region ? ['sc-region'] : []), ...(active ? ['sc-active'] : [])];
  const parts = [`<g class="${classes.join(' ')}" data-path="${xml(box.path)}">`];
  if (box.kind === 'history') {
    const r = Math.min(box.width, box.height) / 2;
    parts.push(`<circle cx="${num(box.x + r)}" cy="${num(box.y + r)}" r="${num(r)}"/>`);
    parts.push(text('sc-key', box.x + r, box.y + r + 4, box.history === 'deep' ? 'H*' : 'H', 'middle'));
    return `${parts.join('')}</g>`;
  }
  parts.push(rect(box.x, box.y, box.width, box.height));
  if (box.kind === 'final') parts.push(rect(box.x + FINAL_INSET, box.y + FINAL_INSET, box.width - 2 * FINAL_INSET, box.height - 2 * FINAL_INSET));
  const centred = box.kind === 'atomic' || box.kind === 'final';
  const x = centred ? box.x + box.width / 2 : box.x + BOX_PADDING;
  const anchor = centred ? 'middle' : 'start';
  const inset = box.kind === 'final' ? FINAL_INSET : 0;
  // Atomic and final boxes have BOX_PADDING above and below their text; compound headers half that above.
  const lineTop = box.y + (centred ? BOX_PADDING : BOX_PADDING / 2) + inset;
  parts.push(text('sc-key', x, lineTop + BASELINE, box.key, anchor));
  // Atomic states rule off their details under the key; compound states rule off the whole
  // header from their children (transitions to their children start on that rule).
  const detailsTop = lineTop + LINE_HEIGHT + 2;
  if (centred && box.details.length > 0) parts.push(hRule(box.x + inset, box.x + box.width - inset, detailsTop));
  if (!centred) parts.push(hRule(box.x, box.x + box.width, box.y + box.headerHeight));
  box.details.forEach((line, i) => parts.push(text('sc-detail', x, detailsTop + 2 + i * LINE_HEIGHT + BASELINE, line, anchor)));
  return `${parts.join('')}</g>`;
}

function renderInitial(initial: LayoutInitial): string {
  return `<g class="sc-initial" data-parent="${xml(initial.parent)}" data-target="${xml(initial.target)}"><circle cx="${num(initial.center.x)}" cy="${num(initial.center.y)}" r="5"/><path d="${pathData(initial.points)}"/></g>`;
}

function renderEdge(edge: LayoutEdge, fromActive: boolean): string {
  const label = edge.labelBox;
  return [
    `<g class="sc-edge${fromActive ? ' sc-from-active' : ''}" data-id="${edge.id}" data-source="${xml(edge.source)}" data-target="${xml(edge.target)}" data-event="${xml(edge.event)}">`,
    `<path d="${pathData(edge.points)}"/>`,
    rect(label.x, label.y, label.width, label.height),
    text('sc-label', label.x + label.width / 2, label.y + BASELINE, edge.label, 'middle'),
    '</g>',
  ].join('');
}

function arrowMarker(id: string, headClass: string): string {
  return `<marker id="${id}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" markerUnits="userSpaceOnUse" orient="auto"><path class="${headClass}" d="M0,0 L10,5 L0,10 z"/></marker>`;
}

function hRule(x1: number, x2: number, y: number): string {
  return `<line x1="${num(x1)}" y1="${num(y)}" x2="${num(x2)}" y2="${num(y)}"/>`;
}

function rect(x: number, y: number, width: number, height: number): string {
  return `<rect x="${num(x)}" y="${num(y)}" width="${num(width)}" height="${num(height)}"/>`;
}

function text(className: string, x: number, y: number, content: string, anchor: 'start' | 'middle'): string {
  return `<text class="${className}" x="${num(x)}" y="${num(y)}" text-anchor="${anchor}">${xml(content)}</text>`;
}

function pathData(points: readonly LayoutPoint[]): string {
  return points.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)} ${num(p.y)}`).join(' ');
}

/** A coordinate as printed: at most two decimals, no trailing zeros, no `-0`. */
function num(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return String(rounded === 0 ? 0 : rounded);
}

/** Escapes text for XML content and double-quoted attributes; drops control characters XML cannot hold. */
function xml(value: string): string {
  const printable = [...value].filter((ch) => ch.charCodeAt(0) >= 0x20 || ch === '\t' || ch === '\n').join('');
  return printable.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}
