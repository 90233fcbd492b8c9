import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import { fixtureCommand, killRunningClis, makeTempDir, runCli, writePlan } from './helpers/cli.js';

/**
 * `statecrew` against a real PostgreSQL server (started by the test, scripts/pgServer.mjs): a
 * plan runs with `store: postgres://…`, and bad connection input ends with exit code 2, a
 * message naming host, port and database, and never the password.
 */
let server: PgServer;
let dir: string;

beforeAll(async () => {
  server = await startPgServer();
}, 60_000);

afterAll(async () => {
  await server.stop();
});

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(async () => {
  await killRunningClis();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface StatusJson {
  units: { id: string; state: string; attempts: number }[];
}

describe('statecrew on a PostgreSQL store', () => {
  it('runs a plan whose store is a postgres:// URL, creating its schema, and status reads it', async () => {
    const url = `${server.url}?schema=cli_run`;
    writePlan(dir, {
      version: 1,
      workers: 2,
      store: url,
      milestones: [
        { id: 'a', units: [{ id: 'a1', command: fixtureCommand('exit-with.mjs', '0') }, { id: 'a2', command: fixtureCommand('exit-with.mjs', '0') }] },
        { id: 'b', dependsOn: ['a'], units: [{ id: 'b1', command: fixtureCommand('exit-with.mjs', '0') }] },
      ],
    });
    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/3\/3 units completed/);
    expect(run.stdout + run.stderr).not.toContain(server.password);
    expect(run.stdout).toContain(`persisted to postgres://postgres:***@127.0.0.1:${server.port}/statecrew`);

    const status = await runCli(dir, 'status', '--store', url, '--json');
    expect(status.code, status.stderr).toBe(0);
    const report = JSON.parse(status.stdout) as StatusJson;
    expect(report.units.map((unit) => [unit.id, unit.state, unit.attempts])).toEqual([['a1', 'completed', 1], ['a2', 'completed', 1], ['b1', 'completed', 1]]);
    expect(server.psql("SELECT count(*) FROM cli_run.dispatches WHERE state = 'completed'").trim()).toBe('3');

    // STATECREW_STORE is the default store of every command.
    process.env.STATECREW_STORE = url;
    try {
      const again = await runCli(dir, 'status', '--json');
      expect(again.code, again.stderr).toBe(0);
    } finally {
      delete process.env.STATECREW_STORE;
    }
  });

  it('exits 2 naming host, port and database, never the password, when the store cannot be used; nothing is written', async () => {
    const url = new URL(server.url);
    const cases: { store: string; message: RegExp }[] = [
      { store: `postgres://postgres:wrong-secret@127.0.0.1:${server.port}/statecrew`, message: /password authentication failed for user postgres/ },
      { store: `postgres://postgres:${server.password}@127.0.0.1:${server.port}/no_such_db`, message: /database no_such_db does not exist/ },
      { store: `postgres://postgres:${server.password}@127.0.0.1:1/statecrew`, message: /connection refused/ },
      { store: 'postgres://postgres:wrong-secret@/statecrew', message: /names no host|malformed/ },
    ];
    for (const { store, message } of cases) {
      writePlan(dir, { version: 1, store, milestones: [{ id: 'm', units: [{ id: 'u', command: fixtureCommand('exit-with.mjs', '0') }] }] });
      const run = await runCli(dir, 'run', 'plan.yaml');
      expect(run.code, `${store}: ${run.stdout}${run.stderr}`).toBe(2);
      expect(run.stderr).toMatch(message);
      if (!/names no host|malformed/.test(message.source)) expect(run.stderr).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+, database \w+/);
      expect(run.stdout + run.stderr).not.toMatch(/wrong-secret/);
      expect(run.stdout + run.stderr).not.toContain(url.password);
    }
    expect(server.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'statecrew'").trim(), 'the wrong password created nothing').toBe('0');
  });
});
