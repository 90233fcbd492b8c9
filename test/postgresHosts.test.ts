import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../persistence/postgres/pgStore.js';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import { tempDir } from './helpers/tempStore.js';
import { collectStdout, exitOf, expectSharedOnce, overlaps, readTicks, startStatecrew, tickUnit, whenTicks, type Tick } from './helpers/ticks.js';

/**
 * Several hosts on one PostgreSQL store, simulated on one machine: each `statecrew run` in a
 * PID namespace of its own (`unshare --pid --fork --mount-proc`), so no runtime can see or
 * signal another's processes, as on separate hosts. `--kill-child`: when the namespace's
 * `unshare` dies, its runtime (the namespace's init) is killed, and with it every turn it ran.
 */
const HOST = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];

let server: PgServer;
let dir: string;
let cleanup: () => void;
let ticks: string;
let schemas = 0;
let url: string;

beforeAll(async () => {
  server = await startPgServer();
}, 60_000);

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-pg-hosts-'));
  ticks = path.join(dir, 'ticks.jsonl');
  url = `${server.url}?schema=hosts_${++schemas}`;
});

afterEach(() => cleanup());

/** Four independent milestones of three units each, `ms` per unit, on the PostgreSQL store. */
function writePlan(ms: number, workers: number): string[] {
  const units: string[] = [];
  const lines = ['version: 1', `workers: ${workers}`, `store: ${JSON.stringify(url)}`, 'defaults: { retryBackoff: 100ms }', 'milestones:'];
  for (const m of ['m1', 'm2', 'm3', 'm4']) {
    lines.push(`  - id: ${m}`, '    units:');
    for (const u of ['a', 'b', 'c']) {
      units.push(`${m}/${u}`);
      lines.push(tickUnit(`${m}/${u}`, ms, ticks));
    }
  }
  fs.writeFileSync(path.join(dir, 'plan.yaml'), lines.join('\n'));
  return units;
}

async function storeView() {
  const store = new PostgresStore(url, { readonly: true });
  try {
    return { runtimes: await store.listRuntimes(), dispatches: await store.listDispatches() };
  } finally {
    await store.close();
  }
}

describe('hosts sharing one PostgreSQL store', () => {
  it('two hosts share one plan: each unit runs once, never twice at a time, and both exit 0', async () => {
    const units = writePlan(300, 2);
    const first = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe', HOST);
    const firstOut = collectStdout(first);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'start'));
    const second = startStatecrew(dir, 'B', ['run', 'plan.yaml'], 'pipe', HOST);
    const secondOut = collectStdout(second);
    expect(await exitOf(first), firstOut()).toBe(0);
    expect(await exitOf(second), secondOut()).toBe(0);

    expectSharedOnce(readTicks(ticks), units, ['A', 'B'], expect);
    expect(firstOut() + secondOut()).not.toMatch(/took over|SIGTERM/);
    expect(firstOut() + secondOut()).not.toContain(server.password);
    const view = await storeView();
    expect(view.runtimes.map((r) => r.state)).toEqual(['stopped', 'stopped']);
    expect(new Set(view.runtimes.map((r) => r.hostId)).size).toBe(2);
    expect(view.dispatches.map((d) => `${d.unitId} ${d.state} attempt ${d.attempt}`).sort()).toEqual(units.map((unit) => `${unit} completed attempt 1`).sort());
  });

  it('a host killed (SIGKILL) mid-run is taken over by the other once its heartbeat lapsed; its turns died with it; nothing ran twice at once', async () => {
    const units = writePlan(1500, 1);
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '600ms', '--lease-ttl', '1s'];
    const doomed = startStatecrew(dir, 'A', args, 'pipe', HOST);
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'A' && t.event === 'start'));
    const survivor = startStatecrew(dir, 'B', args, 'pipe', HOST);
    const survivorOut = collectStdout(survivor);
    // Killed while B works and A is in the middle of a turn (a unit of A's started, not ended).
    const running = (all: Tick[]) => all.some((t) => t.run === 'A' && t.event === 'start' && !all.some((e) => e.run === 'A' && e.unit === t.unit && e.event === 'end'));
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'B' && t.event === 'start') && running(all));
    doomed.kill('SIGKILL');
    expect(await exitOf(doomed)).toBeNull();

    expect(await exitOf(survivor), survivorOut()).toBe(0);
    expect(survivorOut()).toMatch(/took over runtime-1 \(heartbeat of runtime-1 on .* lapsed\): \d+ actors restored/);
    const all = readTicks(ticks);
    // A's turn in flight was killed with its namespace at once; B retried it only after the takeover.
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    const view = await storeView();
    expect(view.runtimes.find((r) => r.id === 'runtime-1')).toMatchObject({ state: 'dead' });
    expect(view.runtimes.find((r) => r.id === 'runtime-2')).toMatchObject({ state: 'stopped' });
    const retried = view.dispatches.filter((d) => d.attempt > 1);
    expect(retried.length, 'the unit A was running is run again').toBeGreaterThanOrEqual(1);
    for (const unit of units) expect(view.dispatches.filter((d) => d.unitId === unit && d.state === 'completed'), unit).toHaveLength(1);
  });
});

describe('a PostgreSQL store that goes away mid-run', () => {
  it('waits out a restart of the server and pg_terminate_backend of its connections, then finishes every unit once', async () => {
    const units = writePlan(400, 2);
    const run = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe', HOST);
    const out = collectStdout(run);
    let errors = '';
    run.stderr?.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    // A run that ends early (it once died of an unheard 'error' event of a pooled connection) fails the test at once.
    const ended = exitOf(run).then((code) => {
      throw new Error(`the run ended (${code}) before its units:\n${out()}\n${errors}`);
    });
    const ends = (n: number) => Promise.race([whenTicks(ticks, (all) => all.filter((t) => t.event === 'end').length >= n), ended]);
    await ends(2);
    // Every connection of the runtime (pool and listener) is cut, mid-job or idle.
    server.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'statecrew%' AND pid <> pg_backend_pid()");
    await ends(5);
    await server.restart();
    expect(await exitOf(run), out() + errors).toBe(0);
    expect(errors).not.toMatch(/Unhandled|uncaught/i);

    expect(out()).toMatch(/the store is unavailable .*; waiting, retry \d+ in/);
    expect(out()).toMatch(/the store is available again after/);
    expect(out()).toMatch(/12\/12 units completed/);
    const all = readTicks(ticks);
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    const view = await storeView();
    expect(view.dispatches.filter((d) => d.state === 'completed').map((d) => d.unitId).sort()).toEqual([...units].sort());
  });
});
