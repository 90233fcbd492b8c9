import { and, createMachine, not } from 'xstate';
import { describe, expect, it } from 'vitest';
import { layoutChart, type ChartLayout, type LayoutPoint, type LayoutRect } from '../src/chart/layout.js';
import { renderChartMermaid } from '../src/chart/mermaid.js';
import { chartFromMachine, type ChartNode } from '../src/chart/model.js';
import { renderChartSvg } from '../src/chart/svg.js';
import { CHARTED_MACHINES } from '../src/chart/docsCharts.js';

/** One of each feature a chart has to show. */
const uploadMachine = createMachine({
  id: 'upload',
  initial: 'idle',
  invoke: { id: 'watchdog', src: 'watchdogLogic' },
  on: { RESET: { target: '.idle' }, PING: { actions: 'log' } },
  states: {
    idle: {
      on: {
        START: { target: 'active', guard: 'canStart' },
        FORCE: { target: 'active', guard: and(['canStart', not('isBusy')]) },
        CONFIGURE: { guard: { type: 'isAdmin' }, actions: 'log' },
      },
      after: { 1000: 'timedOut' },
    },
    active: {
      type: 'parallel',
      invoke: { id: 'poller', src: 'pollerLogic', onDone: 'done', onError: { target: 'failed', guard: function isFatal() { return true; } } },
      onDone: 'done',
      states: {
        transfer: {
          initial: 'sending',
          states: {
            sending: { on: { SENT: 'sent', 'progress.*': { actions: 'log' } } },
            sent: { type: 'final' },
            resume: { type: 'history' },
          },
        },
        checks: {
          initial: 'waiting',
          states: {
            waiting: { always: { target: 'verified', guard: ({ context }) => context !== undefined } },
            verified: { type: 'final' },
            restore: { type: 'history', history: 'deep' },
          },
        },
      },
    },
    timedOut: { on: { '*': 'idle', RESUME: 'active.transfer.resume', RETRY: { target: 'timedOut', reenter: true } } },
    failed: { type: 'final' },
    done: { type: 'final' },
  },
});

const chart = chartFromMachine(uploadMachine);

function flatten(node: ChartNode): ChartNode[] {
  return [node, ...node.children.flatMap(flatten)];
}

function parentPath(path: string): string {
  return path.includes('.') ? path.slice(0, path.lastIndexOf('.')) : '';
}

function isInside(inner: LayoutRect, outer: LayoutRect): boolean {
  return inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;
}

/** Distance from a point to a rectangle's border, in px (0 on the border). */
function distanceToBorder(p: LayoutPoint, r: LayoutRect): number {
  const inside = p.x >= r.x && p.x <= r.x + r.width && p.y >= r.y && p.y <= r.y + r.height;
  const dx = Math.max(r.x - p.x, 0, p.x - (r.x + r.width));
  const dy = Math.max(r.y - p.y, 0, p.y - (r.y + r.height));
  return inside ? Math.min(p.x - r.x, r.x + r.width - p.x, p.y - r.y, r.y + r.height - p.y) : Math.hypot(dx, dy);
}

function overlaps(a: LayoutRect, b: LayoutRect): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}

function box(layout: ChartLayout, path: string): LayoutRect & { headerHeight: number } {
  const found = layout.boxes.find((b) => b.path === path);
  if (found === undefined) throw new Error(`no box ${path}`);
  return found;
}

describe('chartFromMachine', () => {
  it('reads every state with its path, kind, history and initial flag', () => {
    const nodes = flatten(chart.root).map(({ path, kind, initial, history }) => ({ path, kind, initial, ...(history ? { history } : {}) }));
    expect(nodes).toEqual([
      { path: '', kind: 'compound', initial: false },
      { path: 'idle', kind: 'atomic', initial: true },
      { path: 'active', kind: 'parallel', initial: false },
      { path: 'active.transfer', kind: 'compound', initial: false },
      { path: 'active.transfer.sending', kind: 'atomic', initial: true },
      { path: 'active.transfer.sent', kind: 'final', initial: false },
      { path: 'active.transfer.resume', kind: 'history', initial: false, history: 'shallow' },
      { path: 'active.checks', kind: 'compound', initial: false },
      { path: 'active.checks.waiting', kind: 'atomic', initial: true },
      { path: 'active.checks.verified', kind: 'final', initial: false },
      { path: 'active.checks.restore', kind: 'history', initial: false, history: 'deep' },
      { path: 'timedOut', kind: 'atomic', initial: false },
      { path: 'failed', kind: 'final', initial: false },
      { path: 'done', kind: 'final', initial: false },
    ]);
    expect(chart.machineId).toBe('upload');
    expect(chart.root).toMatchObject({ id: 'upload', key: 'upload', invokes: ['watchdogLogic'] });
    expect(flatten(chart.root).find((n) => n.path === 'active')).toMatchObject({ id: 'upload.active', invokes: ['pollerLogic'] });
  });

  it('keeps targetless transitions inside their state instead of making edges', () => {
    const internal = (path: string) => flatten(chart.root).find((n) => n.path === path)?.internal;
    expect(internal('')).toEqual([{ event: 'PING', label: 'PING' }]);
    expect(internal('idle')).toEqual([{ event: 'CONFIGURE', label: 'CONFIGURE [isAdmin]', guard: 'isAdmin' }]);
    expect(internal('active.transfer.sending')).toEqual([{ event: 'progress.*', label: 'progress.*' }]);
    expect(chart.edges.filter((e) => e.event === 'PING' || e.event === 'CONFIGURE' || e.event === 'progress.*')).toEqual([]);
  });

  it('labels delayed, eventless, invoke, done and wildcard transitions readably, with their guards', () => {
    const edges = chart.edges.map(({ source, target, event, label, guard, reenter }) => ({ source, target, event, label, guard, reenter }));
    const edge = (source: string, target: string, event: string, label: string, guard?: string, reenter = false) => ({ source, target, event, label, guard, reenter });
    expect(edges).toEqual([
      edge('', 'idle', 'RESET', 'RESET'),
      edge('idle', 'active', 'START', 'START [canStart]', 'canStart'),
      edge('idle', 'active', 'FORCE', 'FORCE [and(canStart, not(isBusy))]', 'and(canStart, not(isBusy))'),
      edge('idle', 'timedOut', 'xstate.after.1000.upload.idle', 'after 1000ms'),
      edge('active', 'done', 'xstate.done.state.upload.active', 'done'),
      edge('active', 'done', 'xstate.done.actor.poller', 'done: poller'),
      edge('active', 'failed', 'xstate.error.actor.poller', 'error: poller [isFatal]', 'isFatal'),
      edge('active.transfer.sending', 'active.transfer.sent', 'SENT', 'SENT'),
      edge('active.checks.waiting', 'active.checks.verified', '', 'always [guard]', 'guard'),
      edge('timedOut', 'idle', '*', '*'),
      edge('timedOut', 'active.transfer.resume', 'RESUME', 'RESUME'),
      edge('timedOut', 'timedOut', 'RETRY', 'RETRY', undefined, true),
    ]);
    expect(new Set(chart.edges.map((e) => e.id)).size).toBe(chart.edges.length);
  });
});

describe('layoutChart', () => {
  it('nests every box inside its parent box, below the parent header', async () => {
    const layout = await layoutChart(chart);
    expect(layout.boxes.map((b) => b.path)).toEqual(flatten(chart.root).map((n) => n.path));
    expect(isInside(box(layout, ''), { x: 0, y: 0, width: layout.width, height: layout.height })).toBe(true);
    for (const child of layout.boxes.filter((b) => b.path !== '')) {
      const parent = box(layout, parentPath(child.path));
      const body = { x: parent.x, y: parent.y + parent.headerHeight, width: parent.width, height: parent.height - parent.headerHeight };
      expect(isInside(child, body), `${child.path} inside ${parentPath(child.path) || 'root'}`).toBe(true);
    }
    expect(layout.boxes.filter((b) => b.region).map((b) => b.path)).toEqual(['active.transfer', 'active.checks']);
  });

  it('starts every edge on its source box and ends it on its target box', async () => {
    const layout = await layoutChart(chart);
    expect(layout.edges.map((e) => e.id)).toEqual(chart.edges.map((e) => e.id));
    for (const edge of layout.edges) {
      const start = edge.points[0];
      const end = edge.points.at(-1);
      if (start === undefined || end === undefined) throw new Error(`${edge.id} has no route`);
      const source = box(layout, edge.source);
      const startsInside = edge.target.startsWith(edge.source === '' ? '' : `${edge.source}.`);
      // An edge into the source's own descendant starts on the rule under the source's header.
      if (startsInside) expect(start.y, edge.id).toBeCloseTo(source.y + source.headerHeight, 1);
      else expect(distanceToBorder(start, source), `${edge.id} start`).toBeLessThanOrEqual(1);
      expect(distanceToBorder(end, box(layout, edge.target)), `${edge.id} end`).toBeLessThanOrEqual(1);
    }
  });

  it('points a marker in each compound state at its initial child, and none in parallel states', async () => {
    const layout = await layoutChart(chart);
    expect(layout.initials.map((i) => [i.parent, i.target])).toEqual([
      ['', 'idle'],
      ['active.transfer', 'active.transfer.sending'],
      ['active.checks', 'active.checks.waiting'],
    ]);
    for (const initial of layout.initials) {
      expect(isInside({ ...initial.center, width: 0, height: 0 }, box(layout, initial.parent))).toBe(true);
      expect(distanceToBorder(initial.points.at(-1) ?? { x: -1, y: -1 }, box(layout, initial.target))).toBeLessThanOrEqual(1);
    }
  });

  it('places edge labels clear of each other and of the state boxes', async () => {
    for (const layout of [await layoutChart(chart), ...(await Promise.all(Object.values(CHARTED_MACHINES).map(({ machine }) => layoutChart(chartFromMachine(machine)))))]) {
      const leaves = layout.boxes.filter((b) => b.kind !== 'compound' && b.kind !== 'parallel');
      layout.edges.forEach((edge, i) => {
        for (const leaf of leaves) expect(overlaps(edge.labelBox, leaf), `${layout.machineId}: ${edge.label} over ${leaf.path}`).toBe(false);
        for (const other of layout.edges.slice(i + 1)) expect(overlaps(edge.labelBox, other.labelBox), `${layout.machineId}: ${edge.label} over ${other.label}`).toBe(false);
      });
    }
  });

  it('gives byte-identical output when run again', async () => {
    const first = JSON.stringify(await layoutChart(chart));
    const second = JSON.stringify(await layoutChart(chartFromMachine(uploadMachine)));
    expect(second).toBe(first);
  });
});

describe('renderChartSvg', () => {
  it('draws a data-path group per state and a data-source/target/event group per edge', async () => {
    const svg = renderChartSvg(await layoutChart(chart), { title: 'upload <test>' });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toMatch(/viewBox="0 0 [\d.]+ [\d.]+"/);
    expect(svg).toContain('<title>upload &lt;test&gt;</title>');
    expect(svg).not.toMatch(/href=|@import|url\(http/);
    for (const node of flatten(chart.root)) {
      expect(svg).toMatch(new RegExp(`<g class="sc-state sc-${node.kind}[^"]*" data-path="${node.path}">`));
    }
    expect(svg).toContain('<g class="sc-state sc-compound sc-region" data-path="active.transfer">');
    expect(svg.match(/<g class="sc-edge"/g)).toHaveLength(chart.edges.length);
    expect(svg).toContain('data-source="idle" data-target="timedOut" data-event="xstate.after.1000.upload.idle">');
    expect(svg).toMatch(/data-source="" data-target="idle" data-event="RESET"><path d="M[^"]+"\/>.*<text[^>]*>RESET<\/text>/);
    expect(svg).toContain('>H</text>');
    expect(svg).toContain('>H*</text>');
    expect(svg).toContain('.sc-state.sc-active > rect {');
    expect(svg).toContain('.sc-edge.sc-from-active > path {');
  });

  it('marks the active states and the edges leaving them when activePaths is given', async () => {
    const svg = renderChartSvg(await layoutChart(chart), { activePaths: ['', 'idle'] });
    expect(svg.match(/sc-active"/g)).toHaveLength(2);
    expect(svg).toContain('<g class="sc-state sc-atomic sc-active" data-path="idle">');
    expect(svg).toContain('<g class="sc-state sc-compound sc-active" data-path="">');
    const fromActive = [...svg.matchAll(/<g class="sc-edge sc-from-active"[^>]* data-source="([^"]*)"/g)].map((m) => m[1]);
    expect(fromActive).toEqual(['', 'idle', 'idle', 'idle']);
  });

  it('escapes XML in state keys and event names', async () => {
    const odd = createMachine({ id: 'a&b', initial: 'x<y', states: { 'x<y': { on: { 'GO"&\'': 'z' } }, z: {} } });
    const svg = renderChartSvg(await layoutChart(chartFromMachine(odd)));
    expect(svg).toContain('data-path="x&lt;y"');
    expect(svg).toContain('data-event="GO&quot;&amp;&apos;"');
    expect(svg).not.toMatch(/x<y|a&b/);
  });
});

describe('renderChartMermaid', () => {
  it('prints nested states, initial and final markers, regions and transitions', () => {
    const lines = renderChartMermaid(chart).split('\n');
    expect(lines[0]).toBe('stateDiagram-v2');
    expect(lines).toEqual(
      expect.arrayContaining([
        '  state "upload" as machine {',
        '    [*] --> s_idle',
        '    state "idle" as s_idle',
        '    s_idle : on CONFIGURE [isAdmin]',
        '    state "active" as s_active {',
        '      state "transfer" as s_active_transfer {',
        '        [*] --> s_active_transfer_sending',
        '        state "resume (H)" as s_active_transfer_resume',
        '        s_active_transfer_sent --> [*]',
        '        s_active_transfer_sending --> s_active_transfer_sent : SENT',
        '      --',
        '        state "restore (H*)" as s_active_checks_restore',
        '        s_active_checks_waiting --> s_active_checks_verified : always [guard]',
        '    note right of s_active',
        '      invoke pollerLogic',
        '    s_idle --> s_timedOut : after 1000ms',
        '    s_active --> s_failed : error#58; poller [isFatal]',
        '    s_timedOut --> s_active_transfer_resume : RESUME',
        '    s_timedOut --> s_timedOut : RETRY',
        '    s_failed --> [*]',
        '  machine --> s_idle : RESET',
      ]),
    );
  });

  it('escapes characters Mermaid reads as syntax and keeps ids unique', () => {
    const odd = createMachine({ id: 'm', initial: 'a-b', states: { 'a-b': { on: { 'X:Y;#{}': 'a_b' } }, a_b: {} } });
    const text = renderChartMermaid(chartFromMachine(odd));
    expect(text).toContain('s_a_b --> s_a_b_2 : X#58;Y#59;#35;#123;#125;');
    expect(text).toContain('state "a-b" as s_a_b\n');
  });

  it('gives the same text when run again', () => {
    expect(renderChartMermaid(chartFromMachine(uploadMachine))).toBe(renderChartMermaid(chart));
  });
});
