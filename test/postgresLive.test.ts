import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { startInspector, type Inspector } from '../src/inspector/server.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import { runCli } from './helpers/cli.js';
import { tempDir } from './helpers/tempStore.js';

/**
 * Live across connections on a PostgreSQL store (LISTEN/NOTIFY, no poll): the inspector shows
 * what a run on another host wrote and pushes another connection's commits; a runtime acts on
 * an operator command from another host at once.
 */
let server: PgServer;
let url: string;
let inspector: Inspector | undefined;

beforeAll(async () => {
  server = await startPgServer();
  url = `${server.url}?schema=inspected`;
  const { dir, cleanup } = tempDir('statecrew-pg-inspector-');
  try {
    const node = JSON.stringify(process.execPath);
    const plan = parsePlan(
      ['version: 1', 'workers: 1', 'milestones:', '  - id: m', `    units: [{ id: m/u, command: [${node}, -e, "process.exit(0)"] }]`].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    const runtime = createRuntime({ store: url, logsDir: path.join(dir, 'logs') });
    await runtime.start(plan);
    expect((await runtime.finished).exitCode).toBe(0);
    await runtime.store.close();
  } finally {
    cleanup();
  }
}, 60_000);

afterEach(async () => {
  await inspector?.close();
  inspector = undefined;
});

afterAll(async () => {
  await server.stop();
});

const at = (route: string) => fetch(`http://127.0.0.1:${inspector?.port}${route}${route.includes('?') ? '&' : '?'}token=${inspector?.token}`);

describe('statecrew inspector on a PostgreSQL store', () => {
  it('lists every actor the run wrote, naming the store without its password', async () => {
    inspector = await startInspector({ store: url });
    const body = (await (await at('/api/actors')).json()) as { store: string; actors: { kind: string; state: string }[] };
    expect(body.store).toBe(`postgres://postgres:***@127.0.0.1:${server.port}/statecrew?schema=inspected`);
    expect(body.actors.map((a) => `${a.kind} ${a.state}`).sort()).toEqual(['dispatch completed', 'lease released', 'supervisor stopped', 'worker completed']);
  });

  it('shows the fleet of a PostgreSQL store and acts on it through the same rows as the CLI', async () => {
    inspector = await startInspector({ store: url });
    const fleet = (await (await at('/api/fleet')).json()) as { plan: { milestones: { id: string; state: string; unitsDone: number; unitsTotal: number }[] }; counts: Record<string, number>; runtimes: { id: string; state: string }[] };
    expect(fleet.plan.milestones).toMatchObject([{ id: 'm', state: 'completed', unitsDone: 1, unitsTotal: 1 }]);
    expect(fleet.counts).toMatchObject({ completed: 1, pending: 0, failed: 0 });
    expect(fleet.runtimes.map((r) => `${r.id} ${r.state}`)).toEqual(['runtime-1 stopped']);
    const graph = (await (await at('/api/plan-graph')).json()) as { nodes: { id: string; width: number }[] };
    expect(graph.nodes.map((n) => n.id)).toEqual(['m']);
    const unit = (await (await at(`/api/units/${encodeURIComponent('m/u')}`)).json()) as { turns: { dispatchId: string; state: string; exitCode: number }[] };
    expect(unit.turns).toMatchObject([{ dispatchId: 'm/u#1', state: 'completed', exitCode: 0 }]);

    // An action from the page: pause, then resume, written to the PostgreSQL store.
    const origin = `http://127.0.0.1:${inspector.port}`;
    const page = await (await at('/')).text();
    const csrf = /<meta name="statecrew-csrf" content="([^"]+)"/.exec(page)?.[1] ?? '';
    const act = (action: string) =>
      fetch(`${origin}/api/actions?token=${inspector?.token}`, { method: 'POST', headers: { origin, 'x-statecrew-csrf': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ action }) });
    expect((await act('pause')).status).toBe(200);
    const reader = openStoreAt(url);
    expect((await reader.getControl('paused'))?.value).toBe('paused');
    expect((await act('resume')).status).toBe(200);
    expect(await reader.getControl('paused')).toBeUndefined();
    await reader.close();
  });

  it('pushes a change event when another connection commits, woken by its notification', async () => {
    // A poll far longer than the test: the change can only arrive through LISTEN/NOTIFY.
    inspector = await startInspector({ store: url, pollMs: 600_000 });
    const response = await at('/api/events');
    const reader = response.body?.getReader();
    if (reader === undefined) throw new Error('no body');
    const decoder = new TextDecoder();
    const nextChunk = async () => decoder.decode((await reader.read()).value);
    expect(await nextChunk()).toMatch(/^event: change\ndata: \{"version":\d+\}/);
    const writer = openStoreAt(url);
    await writer.setControl('paused', 'yes', Date.now());
    await writer.close();
    expect(await nextChunk()).toMatch(/^event: change\n/);
    await reader.cancel();
  });

  it('wakes a runtime at once for an operator command from another connection (its poll is an hour)', async () => {
    const { dir, cleanup } = tempDir('statecrew-pg-wakeup-');
    try {
      const runtime = createRuntime({ store: `${server.url}?schema=woken`, logsDir: path.join(dir, 'logs'), pollMs: 3_600_000, keepAlive: true });
      // No plan: a server runtime waiting for submissions.
      await runtime.start();
      const stop = await runCli(dir, 'stop', '--store', `${server.url}?schema=woken`);
      expect(stop.code, stop.stdout + stop.stderr).toBe(0);
      const result = await runtime.finished;
      expect(result.reason).toMatch(/stop/);
      await runtime.store.close();
    } finally {
      cleanup();
    }
  });
});
