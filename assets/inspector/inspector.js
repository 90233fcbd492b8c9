// statecrew inspector page: plain ES module, no dependencies, everything from this server.
// Data: GET /api/actors, /api/units, /api/actors/:id?after=seq, /api/charts/:machineId.svg; live
// updates: the server-sent events of /api/events ("change" whenever the store committed).

import { followCommands, renderActorActions, setupActions } from './actions.js';
import { fleetVersion, refreshFleet, restoreFleet } from './fleet.js';

/** Rows drawn per page of the actor list and the unit table (a store of 5,000 units has tens of thousands of actors). */
const PAGE = 200;

const $ = (selector) => document.querySelector(selector);

const view = {
  /** The tab shown: `fleet` or `actors`. */
  tab: 'fleet',
  actorPage: 0,
  list: null,
  units: [],
  kind: '',
  state: '',
  text: '',
  selectedId: null,
  detail: null,
  /** Sequence number of the transition travelled back to, or null for live. */
  selectedSeq: null,
  charts: new Map(),
  chartShown: null,
};

let refreshing = false;
let refreshAgain = false;

async function getJson(url) {
  const response = await fetch(url, { cache: 'no-store' });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

async function refresh() {
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    do {
      refreshAgain = false;
      if (view.tab === 'fleet') {
        await refreshFleet();
        continue;
      }
      // The actor list is drawn first; the unit table (the slower read) is asked for after it.
      view.list = await getJson('/api/actors');
      if (view.selectedId !== null) await refreshDetail();
      render();
      view.units = (await getJson('/api/units')).units;
      renderUnits();
    } while (refreshAgain);
  } catch (error) {
    showLive(false, String(error.message ?? error));
  } finally {
    refreshing = false;
  }
}

async function refreshDetail() {
  const id = view.selectedId;
  const known = view.detail !== null && view.detail.actor.id === id ? view.detail : null;
  const after = known === null ? 0 : (known.journal.at(-1)?.seq ?? 0);
  const detail = await getJson(`/api/actors/${encodeURIComponent(id)}?after=${after}`);
  view.detail = known === null ? detail : { ...detail, journal: [...known.journal, ...detail.journal] };
}

function render() {
  renderHeader();
  renderFilters();
  renderActors();
  renderUnits();
  void renderChart();
  renderTimeline();
  renderDetail();
  renderActorActions(view.detail);
}

function renderHeader() {
  $('#store').textContent = view.list.store;
}

function option(value, label) {
  const element = document.createElement('option');
  element.value = value;
  element.textContent = label;
  return element;
}

function renderFilters() {
  const { byKind, byState, actors } = view.list;
  const kindSelect = $('#filter-kind');
  kindSelect.replaceChildren(
    option('', `all kinds (${actors.length})`),
    ...Object.entries(byKind).map(([kind, count]) => option(kind, `${kind} (${count})`)),
  );
  kindSelect.value = view.kind;
  const states = {};
  for (const [kind, counts] of Object.entries(byState)) {
    if (view.kind !== '' && kind !== view.kind) continue;
    for (const [state, count] of Object.entries(counts)) states[state] = (states[state] ?? 0) + count;
  }
  const stateSelect = $('#filter-state');
  stateSelect.replaceChildren(
    option('', 'all states'),
    ...Object.entries(states)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([state, count]) => option(state, `${state} (${count})`)),
  );
  stateSelect.value = view.state in states ? view.state : '';
  const chips = Object.entries(states)
    .sort(([, a], [, b]) => b - a)
    .map(([state, count]) => {
      const chip = document.createElement('span');
      chip.className = `chip${view.state === state ? ' on' : ''}`;
      chip.dataset.state = state;
      chip.append(`${state} `);
      const number = document.createElement('b');
      number.textContent = String(count);
      chip.append(number);
      chip.addEventListener('click', () => {
        view.state = view.state === state ? '' : state;
        render();
      });
      return chip;
    });
  $('#counts').replaceChildren(...chips);
}

function visibleActors() {
  return view.list.actors.filter(
    (actor) =>
      (view.kind === '' || actor.kind === view.kind) &&
      (view.state === '' || actor.state === view.state) &&
      (view.text === '' || actor.id.includes(view.text)),
  );
}

function renderActors() {
  const visible = visibleActors();
  const pages = Math.max(1, Math.ceil(visible.length / PAGE));
  view.actorPage = Math.min(view.actorPage, pages - 1);
  const first = view.actorPage * PAGE;
  renderPager($('#actors-pager'), first, Math.min(visible.length, first + PAGE), visible.length, (page) => {
    view.actorPage = page;
    renderActors();
  });
  const rows = visible.slice(first, first + PAGE).map((actor) => {
    const row = document.createElement('tr');
    row.dataset.actorId = actor.id;
    row.className = `status-${actor.status}${actor.id === view.selectedId ? ' selected' : ''}`;
    const cells = [
      ['id', actor.id],
      ['kind', actor.kind],
      ['state', actor.status === 'active' ? actor.state : `${actor.state} (${actor.status})`],
      ['when', ago(actor.updatedAt)],
    ];
    for (const [name, text] of cells) {
      const cell = document.createElement('td');
      cell.className = name;
      cell.textContent = text;
      if (name === 'when') cell.title = new Date(actor.updatedAt).toISOString();
      row.append(cell);
    }
    row.addEventListener('click', () => void select(actor.id, null));
    return row;
  });
  if (rows.length === 0) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = 4;
    cell.className = 'empty';
    cell.textContent = view.list.actors.length === 0 ? 'no actors in this store yet' : 'no actor matches the filters';
    row.append(cell);
    rows.push(row);
  }
  $('#actors tbody').replaceChildren(...rows);
}

/** One row per unit: state, attempts and turns, cost (USD), the agent session, resume mismatches and denied tools. */
function renderUnits() {
  const rows = (view.units ?? []).slice(0, PAGE).map((unit) => {
    const row = document.createElement('tr');
    row.dataset.unitId = unit.id;
    const cell = (name, text, title) => {
      const element = document.createElement('td');
      element.className = name;
      element.textContent = text;
      if (title) element.title = title;
      row.append(element);
      return element;
    };
    cell('id', unit.id);
    cell('state', unit.state);
    cell('attempts', `${unit.attempts}/${unit.turns}`);
    cell('cost', unit.costUsd === null ? '' : `$${unit.costUsd.toFixed(4)}`, unit.costUsd === null ? '' : `${unit.inputTokens ?? 0} input / ${unit.outputTokens ?? 0} output tokens`);
    // The session id's tail: enough to tell sessions apart; the whole id is its title.
    const sessionId = unit.sessionId ?? '';
    const session = cell('session', sessionId.length > 12 ? `…${sessionId.slice(-8)}` : sessionId, sessionId);
    const warn = (text, title) => {
      const mark = document.createElement('span');
      mark.className = 'warn';
      mark.textContent = text;
      mark.title = title;
      session.append(mark);
    };
    if (unit.resumeMismatches > 0) warn(`⚠ ${unit.resumeMismatches} resume mismatch${unit.resumeMismatches === 1 ? '' : 'es'}`, 'a turn told to resume the session reported another one');
    if (unit.permissionDenials.length > 0) {
      warn(`⚠ ${unit.permissionDenials.length} denied`, unit.permissionDenials.map((d) => `${d.tool}${d.target === null ? '' : ` ${d.target}`} (${d.dispatchId})`).join('\n'));
    }
    return row;
  });
  if ((view.units ?? []).length > PAGE) {
    const more = document.createElement('tr');
    more.append(Object.assign(document.createElement('td'), { colSpan: 5, className: 'empty', textContent: `${view.units.length - PAGE} more units: see each milestone in the Fleet tab` }));
    rows.push(more);
  }
  $('#units tbody').replaceChildren(...rows);
}

/** "‹ 1–200 of 5,012 ›" with buttons that call `go(page)`. */
function renderPager(box, first, last, total, go) {
  if (total <= PAGE) return box.replaceChildren();
  const page = Math.floor(first / PAGE);
  const button = (label, target, enabled) => {
    const element = Object.assign(document.createElement('button'), { type: 'button', textContent: label, disabled: !enabled });
    element.addEventListener('click', () => go(target));
    return element;
  };
  box.replaceChildren(button('‹', page - 1, page > 0), Object.assign(document.createElement('span'), { textContent: `${first + 1}–${last} of ${total}` }), button('›', page + 1, last < total));
}

function ago(at) {
  const seconds = Math.max(0, Math.round((Date.now() - at) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(at).toLocaleString();
}

/** The transition shown: the one travelled back to, or the latest. */
function shownEntry() {
  const journal = view.detail?.journal ?? [];
  if (view.selectedSeq === null) return journal.at(-1) ?? null;
  return journal.find((entry) => entry.seq === view.selectedSeq) ?? null;
}

async function chartSvg(machineId) {
  if (!view.charts.has(machineId)) {
    const response = await fetch(`/api/charts/${encodeURIComponent(machineId)}.svg`);
    view.charts.set(machineId, response.ok ? await response.text() : null);
  }
  return view.charts.get(machineId);
}

async function renderChart() {
  const detail = view.detail;
  const container = $('#chart');
  if (detail === null) {
    $('#chart-title').textContent = 'Select an actor';
    return;
  }
  const { actor } = detail;
  $('#chart-title').textContent = `${actor.id} · ${actor.machineId} v${actor.machineVersion}`;
  if (view.chartShown !== actor.machineId) {
    const svg = await chartSvg(actor.machineId);
    if (view.detail !== detail && view.detail?.actor.machineId !== actor.machineId) return;
    container.innerHTML = svg ?? '';
    if (svg === null) container.append(Object.assign(document.createElement('p'), { className: 'empty', textContent: `no statechart known for ${actor.machineId}` }));
    view.chartShown = actor.machineId;
  }
  highlight();
}

function highlight() {
  const entry = shownEntry();
  const live = view.selectedSeq === null;
  const paths = new Set(live ? view.detail.current.activePaths : (entry?.activePaths ?? []));
  for (const state of document.querySelectorAll('#chart .sc-state')) {
    state.classList.toggle('sc-active', paths.has(state.dataset.path));
  }
  // The transition that led here: its event, from a state active before, into one active now.
  const journal = view.detail.journal;
  const index = entry === null ? -1 : journal.indexOf(entry);
  const before = new Set(index > 0 ? journal[index - 1].activePaths : []);
  for (const edge of document.querySelectorAll('#chart .sc-edge')) {
    edge.classList.toggle('sc-from-active', paths.has(edge.dataset.source));
    edge.classList.toggle(
      'sc-taken',
      entry !== null && edge.dataset.event === entry.eventType && before.has(edge.dataset.source) && paths.has(edge.dataset.target),
    );
  }
  const mode = $('#mode');
  if (live) {
    mode.textContent = `live · ${view.detail.current.activePaths.at(-1) ?? view.detail.actor.state}`;
    mode.className = '';
  } else {
    mode.textContent = `at #${entry?.seq} · ${entry?.toState} · ${entry === null ? '' : new Date(entry.at).toISOString()}`;
    mode.className = 'past';
  }
  $('#back-to-live').hidden = live;
}

function renderTimeline() {
  const journal = view.detail?.journal ?? [];
  const shown = shownEntry();
  const items = journal
    .slice()
    .reverse()
    .map((entry) => {
      const item = document.createElement('li');
      item.dataset.seq = String(entry.seq);
      item.className = [entry === shown && view.selectedSeq !== null ? 'selected' : '', entry === journal.at(-1) ? 'current' : ''].join(' ').trim();
      const seq = Object.assign(document.createElement('span'), { className: 'seq', textContent: `#${entry.seq}` });
      const at = Object.assign(document.createElement('span'), { className: 'at', textContent: new Date(entry.at).toISOString().slice(11, 23) });
      const what = Object.assign(document.createElement('span'), { className: 'what' });
      what.append(Object.assign(document.createElement('b'), { textContent: entry.eventType }), ` ${entry.fromState ?? '∅'} → ${entry.toState}`);
      item.title = new Date(entry.at).toISOString();
      item.append(seq, at, what);
      item.addEventListener('click', () => void select(view.selectedId, entry.seq));
      return item;
    });
  $('#timeline').replaceChildren(...items);
}

function renderDetail() {
  const entry = shownEntry();
  const live = view.selectedSeq === null;
  $('#event').textContent = entry === null ? '' : JSON.stringify(entry.event ?? { type: entry.eventType }, null, 2);
  const context = live ? view.detail?.current.context : entry?.context;
  const error = live ? view.detail?.current.error : entry?.error;
  $('#context').textContent = view.detail === null ? '' : (error ? `⚠ ${error}\n` : '') + JSON.stringify(context ?? null, null, 2);
  $('#context').classList.toggle('error', Boolean(error));
}

async function select(id, seq) {
  if (id !== view.selectedId) {
    view.selectedId = id;
    view.detail = null;
  }
  view.selectedSeq = seq;
  history.replaceState(null, '', `#view=actors&actor=${encodeURIComponent(id)}${seq === null ? '' : `&seq=${seq}`}`);
  if (view.detail === null) await refreshDetail();
  render();
}

function showLive(on, text) {
  const live = $('#live');
  live.className = on ? 'live-on' : 'live-off';
  live.textContent = text;
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => showLive(true, 'live'));
  events.addEventListener('change', (event) => {
    showLive(true, `live · updated ${new Date().toLocaleTimeString()}`);
    // The stream opens with the store's version: nothing to read when the page already shows it.
    const version = JSON.parse(event.data).version;
    if (version === (view.tab === 'fleet' ? fleetVersion() : view.list?.version)) return;
    void refresh();
    void followCommands();
  });
  events.addEventListener('store-error', (event) => showLive(false, `store error: ${JSON.parse(event.data).error}`));
  events.addEventListener('error', () => showLive(false, 'disconnected, retrying…'));
}

function bindControls() {
  for (const tab of document.querySelectorAll('#tabs button')) tab.addEventListener('click', () => void showTab(tab.dataset.view));
  $('#filter-kind').addEventListener('change', (event) => {
    view.kind = event.target.value;
    view.actorPage = 0;
    view.state = '';
    render();
  });
  $('#filter-state').addEventListener('change', (event) => {
    view.state = event.target.value;
    view.actorPage = 0;
    render();
  });
  $('#filter-text').addEventListener('input', (event) => {
    view.text = event.target.value.trim();
    view.actorPage = 0;
    renderActors();
  });
  $('#back-to-live').addEventListener('click', () => void select(view.selectedId, null));
  setInterval(() => view.tab === 'actors' && view.list !== null && renderActors(), 5000);
}

/** Shows the Fleet or the Actors tab and loads what it shows. */
async function showTab(tab) {
  view.tab = tab === 'actors' ? 'actors' : 'fleet';
  for (const button of document.querySelectorAll('#tabs button')) button.classList.toggle('on', button.dataset.view === view.tab);
  $('#fleet-view').hidden = view.tab !== 'fleet';
  $('#actors-view').hidden = view.tab !== 'actors';
  if (view.tab === 'actors' && view.selectedId === null) history.replaceState(null, '', '#view=actors');
  await refresh();
}

async function start() {
  bindControls();
  setupActions();
  const hash = new URLSearchParams(location.hash.slice(1));
  // Drop the token from the address bar: the cookie set with the page carries it from here on.
  history.replaceState(null, '', location.pathname + location.hash);
  const id = hash.get('actor');
  if (hash.get('view') === 'actors' || id !== null) {
    await showTab('actors');
    if (id !== null && view.list.actors.some((actor) => actor.id === id)) await select(id, hash.has('seq') ? Number(hash.get('seq')) : null);
  } else {
    restoreFleet(hash);
    await showTab('fleet');
  }
  connect();
}

void start();
