// statecrew inspector: the fleet view. The plan as a graph of milestones (laid out by the server
// with ELK, coloured here by state), unit counts, runtimes with their heartbeat age; a
// milestone's units a page at a time; a unit's page with its turns, each turn's log (followed
// while it runs) and its agent events as a conversation.
// Data: GET /api/fleet, /api/plan-graph, /api/milestones/:id/units, /api/units/:id,
// /api/dispatches/:id/log?from=, /api/dispatches/:id/conversation.

import { act, actionsOn } from './actions.js';

const $ = (selector) => document.querySelector(selector);
const SVG = 'http://www.w3.org/2000/svg';
const PAGE = 200;
const FINAL_TURN = new Set(['completed', 'failed', 'canceled', 'stuck', 'abandoned']);
const COUNTED = ['pending', 'running', 'completed', 'failed', 'stuck', 'blocked', 'canceled'];
const COUNT_LABEL = { pending: 'waiting' };

const fleet = {
  data: null,
  graph: null,
  graphKey: null,
  milestoneId: null,
  offset: 0,
  units: null,
  unitId: null,
  unit: null,
  dispatchId: null,
  log: { dispatchId: null, text: '', next: 0, dropped: 0 },
  conversation: null,
};

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

const enc = encodeURIComponent;

function el(tag, props = {}, ...children) {
  const element = Object.assign(document.createElement(tag), props);
  element.append(...children.filter((child) => child !== null && child !== undefined));
  return element;
}

function svg(tag, attributes = {}) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

const usd = (value) => (value === null || value === undefined ? '' : `$${value.toFixed(4)}`);
const ago = (ms) => (ms < 1000 ? `${ms} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
const time = (ms) => (ms === null ? '' : new Date(ms).toISOString().slice(11, 19));

/** Re-reads everything the fleet view shows (called at start and on every change the store pushes). */
export async function refreshFleet() {
  fleet.data = await getJson('/api/fleet');
  const key = JSON.stringify(fleet.data.plan?.milestones.map((m) => [m.id, m.dependsOn]) ?? null);
  if (fleet.data.plan !== null && key !== fleet.graphKey) {
    fleet.graph = await getJson('/api/plan-graph');
    fleet.graphKey = key;
  }
  if (fleet.milestoneId !== null) fleet.units = await getJson(`/api/milestones/${enc(fleet.milestoneId)}/units?offset=${fleet.offset}&limit=${PAGE}`);
  if (fleet.unitId !== null) await refreshUnit();
  renderFleet();
}

async function refreshUnit() {
  fleet.unit = await getJson(`/api/units/${enc(fleet.unitId)}`);
  const turns = fleet.unit.turns;
  if (fleet.dispatchId === null || !turns.some((t) => t.dispatchId === fleet.dispatchId)) fleet.dispatchId = turns.at(-1)?.dispatchId ?? null;
  if (fleet.dispatchId === null) return;
  const log = fleet.log.dispatchId === fleet.dispatchId ? fleet.log : { dispatchId: fleet.dispatchId, text: '', next: 0, dropped: 0 };
  const slice = await getJson(`/api/dispatches/${enc(fleet.dispatchId)}/log?from=${log.next}`);
  fleet.log = { dispatchId: fleet.dispatchId, text: log.text + slice.text, next: slice.next, dropped: log.next === 0 ? slice.dropped : log.dropped };
  fleet.conversation = await getJson(`/api/dispatches/${enc(fleet.dispatchId)}/conversation`);
}

function renderFleet() {
  renderCounts();
  renderRuntimes();
  renderGraph();
  renderMilestone();
  renderUnit();
}

function renderCounts() {
  const { counts, costUsd, paused, plan } = fleet.data;
  const chips = COUNTED.map((state) =>
    el('span', { className: `chip count-${state}`, title: `${state} units` }, `${COUNT_LABEL[state] ?? state} `, el('b', { textContent: String(counts[state]) })),
  );
  for (const chip of chips) chip.dataset.state = chip.className.slice('chip count-'.length);
  chips.push(el('span', { className: 'chip cost', title: 'what the turns cost so far' }, 'cost ', el('b', { textContent: usd(costUsd) })));
  if (paused) chips.unshift(el('span', { className: 'chip paused', textContent: 'paused' }));
  $('#fleet-counts').replaceChildren(...chips);
  $('#plan-file').textContent = plan === null ? 'no plan recorded in this store yet' : plan.file;
}

function renderRuntimes() {
  const rows = fleet.data.runtimes.map((runtime) => {
    const row = el('tr', { className: `runtime-${runtime.state}` });
    row.dataset.runtimeId = runtime.id;
    const stale = runtime.state === 'running' && runtime.heartbeatAgeMs > runtime.ttlMs;
    row.append(
      el('td', { className: 'id', textContent: runtime.id }),
      el('td', { className: 'host', textContent: `${runtime.host} (pid ${runtime.pid})` }),
      el('td', { className: 'state', textContent: runtime.state }),
      el('td', { className: `heartbeat${stale ? ' stale' : ''}`, textContent: runtime.state === 'running' ? ago(runtime.heartbeatAgeMs) : '', title: `TTL ${runtime.ttlMs} ms` }),
    );
    return row;
  });
  if (rows.length === 0) rows.push(el('tr', {}, el('td', { colSpan: 4, className: 'empty', textContent: 'no runtime has run on this store' })));
  $('#runtimes tbody').replaceChildren(...rows);
}

function renderGraph() {
  const container = $('#plan-graph');
  const layout = fleet.graph;
  const milestones = new Map((fleet.data.plan?.milestones ?? []).map((m) => [m.id, m]));
  if (layout === null || milestones.size === 0) {
    container.replaceChildren(el('p', { className: 'empty', textContent: 'no plan recorded in this store yet' }));
    return;
  }
  let root = container.querySelector('svg');
  if (root === null || root.dataset.key !== fleet.graphKey) {
    root = drawGraph(layout);
    root.dataset.key = fleet.graphKey;
    container.replaceChildren(root);
  }
  for (const node of root.querySelectorAll('g.pg-node')) {
    const milestone = milestones.get(node.dataset.milestoneId);
    if (milestone === undefined) continue;
    node.setAttribute('class', `pg-node pg-${milestone.state}${milestone.id === fleet.milestoneId ? ' pg-selected' : ''}`);
    node.dataset.state = milestone.state;
    const [, units, workspace] = node.querySelectorAll('text');
    units.textContent = `${milestone.unitsDone}/${milestone.unitsTotal} · ${usd(milestone.costUsd)}`;
    workspace.textContent = milestone.workspace === null ? milestone.state : `${milestone.state} · ${milestone.workspace.state}`;
    node.querySelector('title').textContent = [
      milestone.id,
      `state: ${milestone.state}`,
      `units: ${Object.entries(milestone.units).map(([state, n]) => `${n} ${state}`).join(', ')}`,
      milestone.workspace === null ? null : `workspace: ${milestone.workspace.state} on ${milestone.workspace.branch}${milestone.workspace.mergedCommit ? ` (merged ${milestone.workspace.mergedCommit.slice(0, 10)})` : ''}`,
      milestone.workspace?.reason ?? null,
      milestone.failure,
    ]
      .filter((line) => line !== null)
      .join('\n');
  }
}

function drawGraph(layout) {
  const root = svg('svg', { viewBox: `0 0 ${layout.width} ${layout.height}`, width: layout.width, height: layout.height, class: 'plan-graph' });
  const defs = svg('defs');
  const marker = svg('marker', { id: 'pg-arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: 'auto-start-reverse' });
  marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'pg-arrowhead' }));
  defs.append(marker);
  root.append(defs);
  for (const edge of layout.edges) {
    const group = svg('g', { class: 'pg-edge', 'data-source': edge.source, 'data-target': edge.target });
    group.append(svg('path', { d: edge.points.map((p, i) => `${i === 0 ? 'M' : 'L'} ${p.x} ${p.y}`).join(' '), 'marker-end': 'url(#pg-arrow)' }));
    root.append(group);
  }
  for (const node of layout.nodes) {
    const group = svg('g', { class: 'pg-node', transform: `translate(${node.x} ${node.y})` });
    group.dataset.milestoneId = node.id;
    group.append(svg('title'), svg('rect', { width: node.width, height: node.height, rx: 5 }));
    const id = node.id.length > 40 ? `${node.id.slice(0, 39)}…` : node.id;
    [id, '', ''].forEach((text, line) => {
      const label = svg('text', { x: 8, y: 8 + 12 + line * 16, class: line === 0 ? 'pg-id' : 'pg-detail' });
      label.textContent = text;
      group.append(label);
    });
    group.addEventListener('click', () => void selectMilestone(node.id));
    root.append(group);
  }
  return root;
}

function renderMilestone() {
  const page = fleet.units;
  $('#milestone-title').textContent = fleet.milestoneId === null ? 'Select a milestone in the graph' : `Milestone ${fleet.milestoneId}`;
  if (page === null) {
    $('#milestone-units tbody').replaceChildren();
    $('#milestone-pager').replaceChildren();
    return;
  }
  const rows = page.units.map((unit) => {
    const row = el('tr', { className: `unit-${unit.state}${unit.id === fleet.unitId ? ' selected' : ''}` });
    row.dataset.unitId = unit.id;
    row.append(
      el('td', { className: 'id', textContent: unit.id }),
      el('td', { className: 'state', textContent: unit.state, title: unit.failure ?? '' }),
      el('td', { className: 'attempts', textContent: `${unit.attempts}/${unit.turns}` }),
      el('td', { className: 'cost', textContent: usd(unit.costUsd) }),
    );
    row.addEventListener('click', () => void selectUnit(unit.id));
    return row;
  });
  $('#milestone-units tbody').replaceChildren(...rows);
  const last = Math.min(page.total, page.offset + page.units.length);
  const pager = [el('span', { textContent: page.total === 0 ? 'no units' : `${page.offset + 1}–${last} of ${page.total}` })];
  if (page.offset > 0) pager.unshift(pagerButton('‹ previous', Math.max(0, page.offset - PAGE)));
  if (last < page.total) pager.push(pagerButton('next ›', page.offset + PAGE));
  $('#milestone-pager').replaceChildren(...pager);
}

function pagerButton(label, offset) {
  const button = el('button', { type: 'button', textContent: label });
  button.addEventListener('click', () => {
    fleet.offset = offset;
    void refreshFleet();
  });
  return button;
}

function renderUnit() {
  const detail = fleet.unit;
  const panel = $('#unit-panel');
  panel.hidden = detail === null;
  if (detail === null) return;
  const { unit } = detail;
  $('#unit-title').textContent = `Unit ${unit.id}`;
  $('#unit-summary').textContent = `${unit.state} · attempt ${unit.attempts} · ${unit.turns} turn${unit.turns === 1 ? '' : 's'} · ${usd(unit.costUsd) || '$0'} · ${unit.protocol}${unit.failure ? ` · ${unit.failure}` : ''}`;
  renderUnitActions(unit);
  const rows = detail.turns.map((turn) => {
    const row = el('tr', { className: turn.dispatchId === fleet.dispatchId ? 'selected' : '' });
    row.dataset.dispatchId = turn.dispatchId;
    row.append(
      el('td', { className: 'id', textContent: turn.dispatchId }),
      el('td', { className: 'state', textContent: turn.state, title: turn.reason ?? '' }),
      el('td', { textContent: turn.workerId ?? '' }),
      el('td', { textContent: turn.fencingToken === null ? '' : `#${turn.fencingToken}`, title: 'fencing token' }),
      el('td', { textContent: `${time(turn.startedAt)}${turn.endedAt === null ? '' : `–${time(turn.endedAt)}`}` }),
      el('td', { textContent: turn.exitCode === null ? (turn.signal ?? '') : String(turn.exitCode), title: 'exit code' }),
      el('td', { className: 'cost', textContent: usd(turn.costUsd), title: turn.inputTokens === null ? '' : `${turn.inputTokens} input / ${turn.outputTokens} output tokens` }),
      el('td', { textContent: turn.messageId === null ? '' : `message #${turn.messageId}` }),
    );
    row.addEventListener('click', () => {
      fleet.dispatchId = turn.dispatchId;
      void refreshFleet();
    });
    return row;
  });
  $('#turns tbody').replaceChildren(...rows);
  const turn = detail.turns.find((t) => t.dispatchId === fleet.dispatchId);
  const running = turn !== undefined && !FINAL_TURN.has(turn.state);
  $('#log-title').textContent = turn === undefined ? 'Log' : `Log of ${turn.dispatchId}${running ? ' (live)' : ''}`;
  const log = $('#turn-log');
  const follow = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = (fleet.log.dropped > 0 ? `[the store keeps the end of this log; its first ${fleet.log.dropped} bytes are not shown]\n` : '') + fleet.log.text;
  if (follow) log.scrollTop = log.scrollHeight;
  renderConversation();
}

function renderUnitActions(unit) {
  const box = $('#unit-actions');
  const key = `${unit.id}:${unit.state}`;
  if (box.dataset.key === key) return;
  box.dataset.key = key;
  const open = !['completed', 'canceled'].includes(unit.state);
  box.hidden = !actionsOn || !open;
  if (box.hidden) return box.replaceChildren();
  const cancel = el('button', { type: 'button', textContent: `Cancel ${unit.id}`, title: 'cancel the unit for good and kill its running turn (statecrew cancel)' });
  cancel.addEventListener('click', () => void act({ action: 'cancel-unit', unitId: unit.id }, `cancel ${unit.id}`));
  const text = el('input', { type: 'text', placeholder: `message to ${unit.id}'s agent`, required: true });
  text.setAttribute('aria-label', `message to ${unit.id}`);
  const form = el('form', { className: 'send' }, text, el('button', { type: 'submit', textContent: 'Send' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = text.value.trim();
    if (value === '') return;
    text.value = '';
    void act({ action: 'send-message', target: unit.id, text: value }, `send to ${unit.id}`);
  });
  box.replaceChildren(cancel, form);
}

function renderConversation() {
  const conversation = fleet.conversation;
  const items = (conversation?.items ?? []).map((item) => {
    const li = el('li', { className: `conv-${item.kind}` });
    li.dataset.kind = item.kind;
    li.dataset.line = String(item.line);
    switch (item.kind) {
      case 'session':
      case 'assistant':
      case 'thinking':
      case 'error':
        li.append(el('div', { className: 'text', textContent: item.text }));
        break;
      case 'tool-use':
        li.append(el('b', { className: 'tool', textContent: item.name }), el('pre', { textContent: JSON.stringify(item.input, null, 2) }));
        break;
      case 'tool-result':
        li.classList.toggle('is-error', item.isError);
        li.append(el('pre', { textContent: item.text }));
        break;
      case 'result': {
        li.classList.toggle('is-error', item.isError);
        const figures = [
          item.costUsd === null ? null : usd(item.costUsd),
          item.inputTokens === null ? null : `${item.inputTokens} in / ${item.outputTokens ?? 0} out tokens`,
          item.durationMs === null ? null : `${(item.durationMs / 1000).toFixed(1)} s`,
        ].filter((f) => f !== null);
        li.append(el('div', { className: 'text', textContent: item.text }), el('div', { className: 'figures', textContent: figures.join(' · ') }));
        break;
      }
      default:
        li.append(el('div', { className: 'text', textContent: `${item.type}${item.text ? `: ${item.text}` : ''}` }));
    }
    return li;
  });
  $('#conversation').replaceChildren(...items);
  $('#conversation-panel').hidden = items.length === 0;
}

async function selectMilestone(id) {
  if (fleet.milestoneId !== id) fleet.offset = 0;
  fleet.milestoneId = id;
  remember();
  await refreshFleet();
}

/** Opens a unit's page (and its milestone's list). */
export async function selectUnit(id) {
  if (fleet.unitId !== id) {
    fleet.dispatchId = null;
    fleet.log = { dispatchId: null, text: '', next: 0, dropped: 0 };
    fleet.conversation = null;
  }
  fleet.unitId = id;
  remember();
  await refreshFleet();
  if (fleet.unit !== null && fleet.milestoneId !== fleet.unit.unit.milestoneId) await selectMilestone(fleet.unit.unit.milestoneId);
}

function remember() {
  const hash = new URLSearchParams();
  hash.set('view', 'fleet');
  if (fleet.milestoneId !== null) hash.set('milestone', fleet.milestoneId);
  if (fleet.unitId !== null) hash.set('unit', fleet.unitId);
  history.replaceState(null, '', `#${hash}`);
}

/** Restores the milestone and unit named in the address (`#view=fleet&milestone=…&unit=…`); the caller then refreshes. */
export function restoreFleet(hash) {
  if (hash.has('milestone')) fleet.milestoneId = hash.get('milestone');
  if (hash.has('unit')) fleet.unitId = hash.get('unit');
}

/** The store version the fleet view shows (`null` before the first read). */
export function fleetVersion() {
  return fleet.data?.version ?? null;
}
