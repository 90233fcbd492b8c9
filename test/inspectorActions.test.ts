import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { startInspector, type Inspector } from '../src/inspector/server.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { tempDir } from './helpers/tempStore.js';

/**
 * The inspector's actions over HTTP: what a forged or malformed request gets (and that it writes
 * nothing), what a well-formed one writes, and the read-only mode. The click-through with a
 * runtime in another process is in inspectorBrowser.test.ts.
 */

let dir: string;
let cleanup: () => void;
let storeFile: string;
let inspector: Inspector | undefined;

beforeEach(async () => {
  ({ dir, cleanup } = tempDir('statecrew-inspector-actions-'));
  storeFile = path.join(dir, 's.db');
  const node = JSON.stringify(process.execPath);
  const plan = parsePlan(
    ['version: 1', 'workers: 1', 'milestones:', '  - id: m', `    units: [{ id: m/u, command: [${node}, -e, "process.exit(0)"] }, { id: m/v, command: [${node}, -e, "process.exit(0)"] }]`].join('\n'),
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

const origin = () => `http://127.0.0.1:${inspector?.port}`;
const cookie = () => `statecrew_inspect_${inspector?.port}=${inspector?.token}`;

/** Loads the page as a browser would and reads the CSRF token it was given. */
async function pageToken(): Promise<{ csrf: string; mode: string }> {
  const html = await (await fetch(`${origin()}/`, { headers: { cookie: cookie() } })).text();
  return {
    csrf: /<meta name="statecrew-csrf" content="([^"]*)"/.exec(html)?.[1] ?? 'none',
    mode: /<meta name="statecrew-mode" content="([^"]*)"/.exec(html)?.[1] ?? 'none',
  };
}

function post(body: unknown, headers: Record<string, string>): Promise<Response> {
  return fetch(`${origin()}/api/actions`, {
    method: 'POST',
    headers: { cookie: cookie(), 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

/** What the actions could have written: the paused switch, cancellations, messages. */
async function written(): Promise<unknown> {
  const store = openStoreAt(storeFile, { readonly: true });
  try {
    return { paused: (await store.getControl('paused'))?.value ?? null, canceled: (await store.listCanceledUnits()).map((u) => u.unitId), messages: (await store.listMessages()).map((m) => m.text) };
  } finally {
    await store.close();
  }
}

const NOTHING = { paused: null, canceled: [], messages: [] };

describe('inspector actions', () => {
  it('gives every page load its own CSRF token', async () => {
    inspector = await startInspector({ store: storeFile });
    const first = await pageToken();
    const second = await pageToken();
    expect(first.mode).toBe('actions');
    expect(first.csrf).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(second.csrf).not.toBe(first.csrf);
    // Both stay valid: two tabs of the same inspector act independently.
    expect((await post({ action: 'pause' }, { origin: origin(), 'x-statecrew-csrf': first.csrf })).status).toBe(200);
    expect((await post({ action: 'resume' }, { origin: origin(), 'x-statecrew-csrf': second.csrf })).status).toBe(200);
  });

  it('refuses a request without the CSRF token, with a forged one, from another origin, or not JSON, and writes nothing', async () => {
    inspector = await startInspector({ store: storeFile });
    const { csrf } = await pageToken();
    const other = await startInspector({ store: storeFile });
    const otherCsrf = /content="([^"]+\.[^"]+)"/.exec(await (await fetch(`${other.url}`)).text())?.[1] ?? '';
    await other.close();
    const [nonce = ''] = csrf.split('.');
    const cases: [string, unknown, Record<string, string>, number, string][] = [
      ['no CSRF token', { action: 'pause' }, { origin: origin() }, 403, 'csrf'],
      ['a forged CSRF token', { action: 'pause' }, { origin: origin(), 'x-statecrew-csrf': `${nonce}.${'A'.repeat(43)}` }, 403, 'csrf'],
      ["another inspector's CSRF token", { action: 'cancel-unit', unitId: 'm/v' }, { origin: origin(), 'x-statecrew-csrf': otherCsrf }, 403, 'csrf'],
      ['no Origin', { action: 'pause' }, { 'x-statecrew-csrf': csrf }, 403, 'origin'],
      ['another origin', { action: 'send-message', target: 'm/v', text: 'hi' }, { origin: 'http://evil.example', 'x-statecrew-csrf': csrf }, 403, 'origin'],
      ['a rebinding host on our port', { action: 'pause' }, { origin: `http://evil.example:${inspector.port}`, 'x-statecrew-csrf': csrf }, 403, 'origin'],
      ['a form post', 'action=pause', { origin: origin(), 'x-statecrew-csrf': csrf, 'content-type': 'application/x-www-form-urlencoded' }, 415, 'content-type'],
    ];
    for (const [name, body, headers, status, reason] of cases) {
      const response = await post(body, headers);
      expect(response.status, name).toBe(status);
      expect(((await response.json()) as { reason: string }).reason, name).toBe(reason);
    }
    // Without the access token the CSRF token alone opens nothing.
    const anonymous = await fetch(`${origin()}/api/actions`, { method: 'POST', headers: { origin: origin(), 'x-statecrew-csrf': csrf, 'content-type': 'application/json' }, body: '{"action":"pause"}' });
    expect(anonymous.status).toBe(401);
    expect(await written()).toEqual(NOTHING);
  });

  it('records pause, resume, a cancellation and a message as the CLI does, and refuses bad targets naming them', async () => {
    inspector = await startInspector({ store: storeFile });
    const { csrf } = await pageToken();
    const send = async (body: unknown) => {
      const response = await post(body, { origin: origin(), 'x-statecrew-csrf': csrf });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await send({ action: 'pause' })).toEqual({ status: 200, body: { action: 'pause', kind: 'accepted', live: [], message: 'paused, but nothing is running: the next run starts paused' } });
    expect((await written()) as { paused: string }).toMatchObject({ paused: 'paused' });
    expect((await send({ action: 'resume' })).status).toBe(200);
    expect(await send({ action: 'resume' })).toEqual({ status: 409, body: { action: 'resume', kind: 'refused', reason: 'conflict', message: 'not paused' } });

    // A completed unit cannot be canceled; an unknown one is not found; a bad body names the field.
    expect((await send({ action: 'cancel-unit', unitId: 'm/u' })).body).toMatchObject({ kind: 'refused', reason: 'conflict', message: 'unit m/u already completed; nothing to cancel' });
    expect((await send({ action: 'cancel-unit', unitId: 'nope' })).status).toBe(404);
    expect((await send({ action: 'stop-worker', workerId: 'worker-9' })).body).toMatchObject({ reason: 'not-found', message: 'no worker worker-9 in this store' });
    const bad = await send({ action: 'send-message', target: 'm/v' });
    expect(bad.status).toBe(400);
    expect(String(bad.body.error)).toMatch(/text/);
    expect((await send({ action: 'reboot' })).status).toBe(400);
    expect(await written()).toEqual(NOTHING);

    // A message to a unit is queued as `statecrew send` queues it.
    expect((await send({ action: 'send-message', target: 'm/v', text: 'look again' })).body).toMatchObject({ kind: 'accepted', id: 1 });
    expect(await written()).toEqual({ ...NOTHING, messages: ['look again'] });
  });

  it("follows a queued stop command's progress", async () => {
    const store = openStoreAt(storeFile);
    const id = await store.enqueueCommand({ kind: 'stop', target: 'worker-1', now: Date.now() });
    inspector = await startInspector({ store, readOnly: true });
    const read = async (route: string) => (await fetch(`${origin()}${route}`, { headers: { cookie: cookie() } })).json();
    expect(await read(`/api/commands/${id}`)).toEqual({ id, kind: 'stop', target: 'worker-1', state: 'queued', outcome: null, message: null, takenBy: null });
    await store.takeCommand(id, 'runtime-x');
    await store.completeCommand(id, 'done', 'worker worker-1 stopped', Date.now());
    expect(await read(`/api/commands/${id}`)).toMatchObject({ state: 'done', outcome: 'done', message: 'worker worker-1 stopped', takenBy: 'runtime-x' });
    expect((await fetch(`${origin()}/api/commands/99`, { headers: { cookie: cookie() } })).status).toBe(404);
    await inspector.close();
    inspector = undefined;
    await store.close();
  });

  it('read-only: the page gets no token and offers no actions, and every POST is refused', async () => {
    inspector = await startInspector({ store: storeFile, readOnly: true });
    expect(inspector.readOnly).toBe(true);
    expect(await pageToken()).toEqual({ csrf: '', mode: 'read-only' });
    const response = await post({ action: 'pause' }, { origin: origin(), 'x-statecrew-csrf': 'x.y' });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { error: string }).error).toMatch(/read-only/);
    expect(await written()).toEqual(NOTHING);
  });
});
