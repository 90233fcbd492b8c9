import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { activePaths } from '../src/inspector/inspectorData.js';
import { startInspector, type Inspector } from '../src/inspector/server.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { tempDir } from './helpers/tempStore.js';

/** The inspector's HTTP surface: access token, JSON API, diagrams and the live stream, on a store a real run wrote. */

let dir: string;
let cleanup: () => void;
let storeFile: string;
let inspector: Inspector | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('statecrew-inspector-'));
  storeFile = path.join(dir, 's.db');
  const node = JSON.stringify(process.execPath);
  const plan = parsePlan(
    ['version: 1', 'workers: 1', 'milestones:', '  - id: m', `    units: [{ id: m/u, command: [${node}, -e, "process.exit(0)"] }]`].join('\n'),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
  const runtime = createRuntime({ store: storeFile });
  await runtime.start(plan);
  expect((await runtime.finished).exitCode).toBe(0);
});

afterEach(async () => {
  await inspector?.close();
  inspector = undefined;
  cleanup();
});

const at = (route: string, init?: RequestInit) => fetch(`http://127.0.0.1:${inspector?.port}${route}`, init);
const withToken = (route: string) => `${route}${route.includes('?') ? '&' : '?'}token=${inspector?.token}`;

describe('statecrew inspector server', () => {
  it('binds to 127.0.0.1 and prints a URL that carries its access token', async () => {
    inspector = await startInspector({ store: storeFile });
    expect(inspector.url).toBe(`http://127.0.0.1:${inspector.port}/?token=${inspector.token}`);
    expect(inspector.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('answers 401 to every request without the token or with a wrong one, and writes nothing', async () => {
    inspector = await startInspector({ store: storeFile });
    for (const route of ['/', '/assets/inspector.js', '/api/actors', '/api/events', '/api/charts/statecrew.worker.svg', '/metrics']) {
      expect((await at(route)).status, route).toBe(401);
      expect((await at(`${route}?token=wrong`)).status, route).toBe(401);
    }
    expect((await at('/', { headers: { cookie: `statecrew_inspect_${inspector.port}=wrong` } })).status).toBe(401);
  });

  it('serves the fleet\'s metrics in the Prometheus text format, read from the store', async () => {
    inspector = await startInspector({ store: storeFile });
    const response = await at(withToken('/metrics'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await response.text();
    expect(text).toContain('statecrew_units{state="completed"} 1');
    expect(text).toContain('statecrew_units{state="failed"} 0');
    expect(text).toContain('statecrew_dispatches{state="completed"} 1');
    expect(text).toContain('statecrew_runtimes{state="stopped"} 1');
    expect(text).toContain('statecrew_turn_duration_seconds_count 1');
  });

  it('serves the page with the token, sets a cookie that authorises the page’s own requests, and keeps it offline by policy', async () => {
    inspector = await startInspector({ store: storeFile });
    const page = await at(withToken('/'));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<script type="module" src="/assets/inspector.js"></script>');
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(new RegExp(`^statecrew_inspect_${inspector.port}=${inspector.token}; HttpOnly; SameSite=Strict`));
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const script = await at('/assets/inspector.js', { headers: { cookie: cookie.split(';')[0] ?? '' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const html = await (await at(withToken('/'))).text();
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('lists every actor with its kind, state and counts', async () => {
    inspector = await startInspector({ store: storeFile });
    const body = (await (await at(withToken('/api/actors'))).json()) as {
      store: string;
      actors: { id: string; kind: string; state: string; status: string; machineId: string }[];
      byKind: Record<string, number>;
      byState: Record<string, Record<string, number>>;
    };
    expect(body.store).toBe(storeFile);
    expect(body.actors.map((a) => [a.kind, a.state, a.status]).sort()).toEqual(
      [
        ['dispatch', 'completed', 'done'],
        ['lease', 'released', 'done'],
        ['supervisor', 'stopped', 'done'],
        ['worker', 'completed', 'done'],
      ].sort(),
    );
    expect(body.byKind).toEqual({ supervisor: 1, worker: 1, lease: 1, dispatch: 1 });
    expect(body.byState.dispatch).toEqual({ completed: 1 });
    expect(body.actors.find((a) => a.kind === 'worker')?.machineId).toBe('statecrew.worker');
  });

  it('gives an actor’s journal with each transition’s event, active state paths and context', async () => {
    inspector = await startInspector({ store: storeFile });
    const dispatch = openStoreAt(storeFile, { readonly: true });
    const id = (await dispatch.listDispatches())[0]?.id ?? '';
    await dispatch.close();
    const detail = (await (await at(withToken(`/api/actors/${encodeURIComponent(id)}`))).json()) as {
      actor: { id: string; state: string };
      current: { activePaths: string[] };
      journal: { seq: number; eventType: string; event: { type: string } | null; activePaths: string[]; context: { unitId?: string } }[];
    };
    expect(detail.actor).toMatchObject({ id, state: 'completed' });
    expect(detail.current.activePaths).toEqual(['completed']);
    expect(detail.journal.map((row) => row.seq)).toEqual(detail.journal.map((_, index) => index + 1));
    expect(detail.journal[0]).toMatchObject({ eventType: 'xstate.init', event: { type: 'xstate.init' } });
    expect(detail.journal[0]?.activePaths).toEqual(['pending', 'pending.backoff']);
    const finish = detail.journal.find((row) => row.eventType === 'FINISH');
    expect(finish?.event).toMatchObject({ type: 'FINISH', result: { kind: 'exited', exitCode: 0 } });
    expect(finish?.context.unitId).toBe('m/u');
    const later = (await (await at(withToken(`/api/actors/${encodeURIComponent(id)}?after=2`))).json()) as { journal: { seq: number }[] };
    expect(later.journal[0]?.seq).toBe(3);
    expect((await at(withToken('/api/actors/nope'))).status).toBe(404);
  });

  it('serves the statechart of each built-in machine as SVG with a group per state, and 404 for an unknown machine', async () => {
    inspector = await startInspector({ store: storeFile });
    const svg = await (await at(withToken('/api/charts/statecrew.worker.svg'))).text();
    expect(svg).toMatch(/^<svg/);
    for (const state of ['booting', 'between_turns', 'in_turn', 'stopping', 'completed', 'zombie', 'stopped']) {
      expect(svg).toContain(`data-path="${state}"`);
    }
    expect((await at(withToken('/api/charts/statecrew.nope.svg'))).status).toBe(404);
  });

  it('refuses anything but GET', async () => {
    inspector = await startInspector({ store: storeFile });
    expect((await at(withToken('/api/actors'), { method: 'POST' })).status).toBe(405);
  });

  it('pushes a change event to open pages when another connection commits', async () => {
    inspector = await startInspector({ store: storeFile, pollMs: 20 });
    const response = await at(withToken('/api/events'));
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    const decoder = new TextDecoder();
    const nextChunk = async () => decoder.decode((await reader.read()).value);
    expect(await nextChunk()).toMatch(/^event: change\ndata: \{"version":\d+\}/);
    const writer = openStoreAt(storeFile);
    await writer.setControl('paused', 'yes', Date.now());
    await writer.close();
    expect(await nextChunk()).toMatch(/^event: change\n/);
    await reader.cancel();
  });

  it('refuses to open a path that is not a store', async () => {
    await expect(startInspector({ store: path.join(dir, 'missing.db') })).rejects.toThrow(/no statecrew store|not found|missing/i);
  });
});

describe('activePaths', () => {
  it('lists the active states outermost first, one path per active state of every parallel region', () => {
    expect(activePaths('idle')).toEqual(['idle']);
    expect(activePaths({ pending: 'backoff' })).toEqual(['pending', 'pending.backoff']);
    expect(activePaths({ run: { upload: 'sending', ui: { form: 'valid' } } })).toEqual([
      'run',
      'run.upload',
      'run.upload.sending',
      'run.ui',
      'run.ui.form',
      'run.ui.form.valid',
    ]);
  });
});
