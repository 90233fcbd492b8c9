import fs from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import { fixtureCommand, killRunningClis, makeTempDir, runCli, writePlan } from './helpers/cli.js';
import { createTestRepo, git } from './helpers/gitRepo.js';

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
  it('runs a plan with workspaces: worktrees in the repository\'s git folder, merges under the merge lease, status on the URL', async () => {
    const t = createTestRepo();
    try {
      const url = `${server.url}?schema=cli_workspaces`;
      const agent = (...args: string[]) => fixtureCommand('agent-edit.mjs', ...args);
      writePlan(t.dir, {
        version: 1,
        workers: 2,
        store: url,
        workspace: { repo: 'repo', fixTurns: 1, check: fixtureCommand('check-contains.mjs', 'b.txt', 'fixed') },
        milestones: [
          { id: 'a', workspace: { check: fixtureCommand('check-contains.mjs', 'a.txt', 'a') }, units: [{ id: 'a-1', command: agent('--write', 'a.txt=a') }] },
          { id: 'b', units: [{ id: 'b-1', command: agent('--write', 'b.txt=draft', '--fix', 'b.txt=fixed') }] },
          { id: 'c', dependsOn: ['a', 'b'], workspace: false, units: [{ id: 'c-1', command: agent('--expect-present', 'repo/a.txt') }] },
        ],
      });
      const run = await runCli(t.dir, 'run', 'plan.yaml');
      expect(run.code, run.stdout + run.stderr).toBe(0);
      expect(git(t.repo, 'show', 'main:a.txt')).toBe('a');
      expect(git(t.repo, 'show', 'main:b.txt')).toBe('fixed');
      const status = await runCli(t.dir, 'status', '--store', url, '--json');
      const report = JSON.parse(status.stdout) as { milestones: { id: string; state: string; workspace: { path: string; state: string; fixTurnsUsed: number } | null }[] };
      expect(report.milestones.map((m) => [m.id, m.state, m.workspace?.state ?? null, m.workspace?.fixTurnsUsed ?? null])).toEqual([
        ['a', 'completed', 'removed', 0],
        ['b', 'completed', 'removed', 1],
        ['c', 'completed', null, null],
      ]);
      expect(report.milestones[0]?.workspace?.path).toBe(`${t.repo}/.git/statecrew/worktrees/a`);
      expect(git(t.repo, 'worktree', 'list', '--porcelain').split('\n').filter((line) => line.startsWith('worktree '))).toEqual([`worktree ${t.repo}`]);
    } finally {
      t.cleanup();
    }
  });

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

  it('every command takes the URL: journal, logs, doctor, pause, resume, send, cancel, stop', async () => {
    const url = `${server.url}?schema=cli_commands`;
    // u2 never runs: its milestone waits on one that fails.
    writePlan(dir, {
      version: 1,
      store: url,
      milestones: [
        { id: 'm', units: [{ id: 'u1', command: fixtureCommand('exit-with.mjs', '0') }] },
        { id: 'f', units: [{ id: 'bad', maxAttempts: 1, command: fixtureCommand('exit-with.mjs', '3') }] },
        { id: 'later', dependsOn: ['f'], units: [{ id: 'u2', command: fixtureCommand('exit-with.mjs', '0') }] },
      ],
    });
    expect((await runCli(dir, 'run', 'plan.yaml')).code).toBe(1);
    const cli = async (...args: string[]) => {
      const result = await runCli(dir, ...args, '--store', url);
      expect(result.stdout + result.stderr, args.join(' ')).not.toContain(server.password);
      return result;
    };
    const journal = await cli('journal', '--actor', 'u1#1');
    expect(journal.code, journal.stderr).toBe(0);
    expect(journal.stdout).toMatch(/u1#1/);
    const logs = await cli('logs', 'u1');
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toMatch(/^# statecrew turn u1#1 attempt 1 started/);
    const doctor = await cli('doctor', '--json');
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0);
    // With no runtime running, the operator commands record what they were asked and say nothing runs (exit 1).
    const pause = await cli('pause');
    expect([pause.code, pause.stderr]).toEqual([1, 'statecrew: paused, but nothing is running: the next run starts paused\n']);
    expect(server.psql("SELECT value FROM cli_commands.controls WHERE key = 'paused'").trim()).toBe('paused');
    expect((await cli('resume')).stderr).toMatch(/resumed, but nothing is running/);
    expect(server.psql("SELECT count(*) FROM cli_commands.controls WHERE key = 'paused' AND value IS NOT NULL").trim()).toBe('0');
    expect((await cli('send', 'u2', 'look again')).code).toBe(1);
    expect(server.psql('SELECT text FROM cli_commands.messages').trim()).toBe('look again');
    expect((await cli('cancel', 'u2')).stderr).toMatch(/unit u2 canceled, but nothing is running/);
    expect(server.psql('SELECT unit_id FROM cli_commands.unit_cancellations').trim()).toBe('u2');
    const stop = await cli('stop');
    expect(stop.code).toBe(1);
    expect(stop.stdout + stop.stderr).toMatch(/nothing is running|no runtime/i);
  });

  it('exits 2 naming the missing permission when the role may not create the schema; nothing is written', async () => {
    server.psql("DROP ROLE IF EXISTS limited; CREATE ROLE limited LOGIN PASSWORD 'limited-secret'; REVOKE CREATE ON DATABASE statecrew FROM PUBLIC; REVOKE CREATE ON SCHEMA public FROM PUBLIC");
    const store = `postgres://limited:limited-secret@127.0.0.1:${server.port}/statecrew?schema=not_allowed`;
    writePlan(dir, { version: 1, store, milestones: [{ id: 'm', units: [{ id: 'u', command: fixtureCommand('exit-with.mjs', '0') }] }] });
    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(2);
    expect(run.stderr).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+, database statecrew/);
    expect(run.stderr).toMatch(/permission denied/);
    expect(run.stdout + run.stderr).not.toContain('limited-secret');
    expect(server.psql("SELECT count(*) FROM pg_namespace WHERE nspname = 'not_allowed'").trim()).toBe('0');
  });
});
