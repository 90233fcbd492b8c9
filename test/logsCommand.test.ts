import fs from 'node:fs';
import Database from 'better-sqlite3';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import type { DispatchProjection } from '../persistence/types.js';
import { BUILT_CLI, fixtureCommand, killRunningClis, makeTempDir, runCli, startCli, writePlan, type CliProcess } from './helpers/cli.js';

/** `HH:MM:SS start    <unit> attempt N on <worker> (pid N)`, as `statecrew run` prints it. */
const startLine = (unitId: string): RegExp => new RegExp(`^\\d{2}:\\d{2}:\\d{2} start +${unitId} attempt \\d+ on \\S+ \\(pid \\d+\\)$`);
const STORE = path.join('.statecrew', 'statecrew.db');

beforeAll(() => {
  if (!fs.existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
});

afterEach(async () => {
  await killRunningClis();
});

/** The dispatch rows of a unit in the store under `dir`, in creation order (read-only). */
async function dispatchesOf(dir: string, unitId: string): Promise<DispatchProjection[]> {
  const store = openStoreAt(path.join(dir, STORE), { readonly: true });
  try {
    return (await store.listDispatches(unitId));
  } finally {
    await store.close();
  }
}

/** The log file of a unit's attempt, read from the store's dispatch row. */
async function logOf(dir: string, unitId: string, attempt: number): Promise<string> {
  const logPath = (await dispatchesOf(dir, unitId)).filter((d) => d.attempt === attempt).at(-1)?.logPath ?? null;
  expect(logPath, `log path of ${unitId} attempt ${attempt}`).not.toBeNull();
  return fs.readFileSync(logPath ?? '', 'utf8');
}

describe('statecrew logs of a finished run', () => {
  let dir: string;

  beforeAll(async () => {
    dir = makeTempDir();
    writePlan(dir, {
      version: 1,
      workers: 1,
      defaults: { retryBackoff: '100ms' },
      milestones: [
        {
          id: 'm',
          units: [
            { id: 'hello', command: fixtureCommand('exit-with.mjs', '0') },
            { id: 'flaky', command: fixtureCommand('fail-once.mjs', path.join(dir, 'flaky.marker')), maxAttempts: 2 },
            { id: 'doomed', command: fixtureCommand('exit-with.mjs', '3', 'cannot find tsconfig'), maxAttempts: 1 },
          ],
        },
        { id: 'after', dependsOn: ['m'], units: [{ id: 'blocked-unit', command: fixtureCommand('exit-with.mjs', '0') }] },
      ],
    });
    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stderr).toBe(1); // doomed failed, so blocked-unit never ran
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints the log file of the unit’s latest dispatch, byte for byte', async () => {
    const result = await runCli(dir, 'logs', 'hello');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(await logOf(dir, 'hello', 1));
    expect(result.stdout).toMatch(/^# statecrew turn \S+ attempt 1 started .*\nexit-with says hello\n# exit code 0 after \d+ms\n$/);
  });

  it('prints the latest attempt by default and an earlier one with --attempt', async () => {
    const latest = await runCli(dir, 'logs', 'flaky');
    expect(latest).toMatchObject({ code: 0, stderr: '' });
    expect(latest.stdout).toBe(await logOf(dir, 'flaky', 2));
    expect(latest.stdout).toContain('\nmarker found, succeeding\n');

    const first = await runCli(dir, 'logs', 'flaky', '--attempt', '1');
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toBe(await logOf(dir, 'flaky', 1));
    expect(first.stdout).toMatch(/\nno marker, failing\n# exit code 1 after \d+ms\n$/);
  });

  it('prints the log of a failed turn with its last stderr line and footer', async () => {
    const result = await runCli(dir, 'logs', 'doomed', '--store', STORE);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toMatch(/some earlier diagnostic\ncannot find tsconfig\n# exit code 3: cannot find tsconfig after \d+ms\n$/);
  });

  it('exits 2 naming the attempts there are when the attempt is unknown', async () => {
    const result = await runCli(dir, 'logs', 'flaky', '--attempt', '3');
    expect(result).toMatchObject({ code: 2, stdout: '', stderr: 'statecrew: unit flaky has no attempt 3 (attempts: 1, 2)\n' });
  });

  it('exits 2 listing the known units when the unit is unknown', async () => {
    const result = await runCli(dir, 'logs', 'ghost');
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe(`statecrew: unknown unit ghost in ${path.join(dir, STORE)} (known units: hello, flaky, doomed, blocked-unit)\n`);
  });

  it('exits 1 when the unit was never dispatched', async () => {
    const result = await runCli(dir, 'logs', 'blocked-unit');
    expect(result).toMatchObject({ code: 1, stdout: '', stderr: 'statecrew: unit blocked-unit has not been dispatched yet: no log\n' });
  });

  it('exits 2 when --attempt is not an attempt number', async () => {
    for (const attempt of ['0', 'two', '-1', '1.5']) {
      const result = await runCli(dir, 'logs', 'flaky', '--attempt', attempt);
      expect(result.code, attempt).toBe(2);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(/expected an attempt number \(1, 2, …\)/);
    }
  });

  it('exits 2 without creating a store when there is none at the path', async () => {
    const result = await runCli(dir, 'logs', 'hello', '--store', 'missing/store.db');
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toBe(`statecrew: no statecrew store at ${path.join(dir, 'missing', 'store.db')}\n`);
    expect(fs.existsSync(path.join(dir, 'missing'))).toBe(false);
  });

  it('prints the whole log and exits 0 at once with --follow when the turn is over', async () => {
    const result = await runCli(dir, 'logs', 'hello', '--follow');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.stdout).toBe(await logOf(dir, 'hello', 1));
  });

  it('prints the copy the store kept when the log file is gone, and exits 1 when that is gone too', async () => {
    const logPath = (await dispatchesOf(dir, 'doomed')).at(-1)?.logPath ?? '';
    const file = fs.readFileSync(logPath, 'utf8');
    fs.renameSync(logPath, `${logPath}.moved`);
    try {
      const stored = await runCli(dir, 'logs', 'doomed');
      expect(stored).toMatchObject({ code: 0, stdout: file, stderr: '' });
      const db = new Database(path.join(dir, STORE));
      const saved = db.prepare('SELECT * FROM turn_output').all();
      db.prepare('DELETE FROM turn_output').run();
      try {
        const result = await runCli(dir, 'logs', 'doomed');
        expect(result).toMatchObject({ code: 1, stdout: '' });
        expect(result.stderr).toMatch(new RegExp(`^statecrew: the log of attempt 1 of unit doomed \\(dispatch \\S+\\) is gone: no file at ${logPath}\n$`));
      } finally {
        const insert = db.prepare('INSERT INTO turn_output (dispatch_id, byte_offset, bytes) VALUES (@dispatch_id, @byte_offset, @bytes)');
        for (const row of saved) insert.run(row);
        db.close();
      }
    } finally {
      fs.renameSync(`${logPath}.moved`, logPath);
    }
  });
});

describe('statecrew logs of a dispatch that never started', () => {
  it('exits 1 for an attempt waiting for its retry, and prints the earlier attempt', async () => {
    const dir = makeTempDir();
    try {
      writePlan(dir, {
        version: 1,
        workers: 1,
        milestones: [{ id: 'm', units: [{ id: 'retrying', command: fixtureCommand('fail-with-attempt.mjs'), maxAttempts: 2, retryBackoff: '1h' }] }],
      });
      const run = startCli(dir, ['run', 'plan.yaml']);
      await run.waitForLine(/failed +retrying attempt 1: .* — retry in /);
      run.kill('SIGINT');
      expect((await run.done).code).toBe(130);

      const [first, second] = (await dispatchesOf(dir, 'retrying'));
      expect(second).toMatchObject({ attempt: 2, logPath: null });
      const latest = await runCli(dir, 'logs', 'retrying');
      expect(latest).toMatchObject({ code: 1, stdout: '' });
      expect(latest.stderr).toBe(`statecrew: attempt 2 of unit retrying (dispatch ${second?.id}) never started a turn (${second?.state}): no log\n`);

      const earlier = await runCli(dir, 'logs', 'retrying', '--attempt', '1');
      expect(earlier).toMatchObject({ code: 0, stderr: '' });
      expect(earlier.stdout).toBe(fs.readFileSync(first?.logPath ?? '', 'utf8'));
      expect(earlier.stdout).toContain('\nfailure on attempt 1\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('statecrew logs --follow', () => {
  let dir: string;

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Starts `statecrew run` of one unit running `command`, and resolves once its turn started. */
  async function startRun(unit: Record<string, unknown>): Promise<CliProcess> {
    dir = makeTempDir();
    writePlan(dir, { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'slow', maxAttempts: 1, ...unit }] }] });
    const run = startCli(dir, ['run', 'plan.yaml']);
    await run.waitForLine(startLine('slow'));
    return run;
  }

  it('prints output appended while the turn runs and exits 0 once it is over', async () => {
    const go = path.join(makeTempDir(), 'go');
    const run = await startRun({ command: fixtureCommand('exit-when-file.mjs', go, '0', 'last words') });
    const follow = startCli(dir, ['logs', 'slow', '--follow']);
    await follow.waitForLine(/^waiting$/);
    fs.writeFileSync(go, '');
    const followed = await follow.done;
    expect((await run.done).code).toBe(0);
    fs.rmSync(path.dirname(go), { recursive: true, force: true });

    expect(followed).toMatchObject({ code: 0, stderr: '' });
    const [dispatch] = (await dispatchesOf(dir, 'slow'));
    expect(dispatch?.state).toBe('completed');
    expect(followed.stdout).toBe(fs.readFileSync(dispatch?.logPath ?? '', 'utf8'));
    expect(followed.stdout).toMatch(/\nwaiting\nan earlier complaint\nlast words\n# exit code 0 after [\d.]+m?s\n$/);
  });

  it('exits 0 after a turn killed with SIGKILL, which leaves no status file', async () => {
    const run = await startRun({ command: fixtureCommand('ignore-sigterm.mjs'), timeout: '1s', killGrace: '100ms' });
    const follow = startCli(dir, ['logs', 'slow', '--follow']);
    const followed = await follow.done;
    expect((await run.done).code).toBe(1);

    expect(followed).toMatchObject({ code: 0, stderr: '' });
    const [dispatch] = (await dispatchesOf(dir, 'slow'));
    expect(dispatch?.state).toBe('failed');
    expect(fs.existsSync(`${dispatch?.logPath}.status.json`)).toBe(false);
    expect(followed.stdout).toBe(fs.readFileSync(dispatch?.logPath ?? '', 'utf8'));
    expect(followed.stdout).toMatch(/\n# killed after timeout of 1\.0s; ended after .*; process group \d+ sent SIGTERM, SIGKILL\n$/);
  });

  it('exits 130 on Ctrl-C (SIGINT) while the turn still runs', async () => {
    const go = path.join(makeTempDir(), 'go');
    const run = await startRun({ command: fixtureCommand('exit-when-file.mjs', go, '0') });
    const follow = startCli(dir, ['logs', 'slow', '--follow']);
    await follow.waitForLine(/^waiting$/);
    follow.kill('SIGINT');
    const followed = await follow.done;
    expect(followed).toMatchObject({ code: 130, stderr: '' });
    expect(followed.stdout).toMatch(/^# statecrew turn .*\nwaiting\n$/);

    fs.writeFileSync(go, '');
    expect((await run.done).code).toBe(0);
    fs.rmSync(path.dirname(go), { recursive: true, force: true });
  });
});
