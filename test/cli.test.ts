import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BUILT_CLI, fixtureCommand, isAlive, killRunningClis, makeTempDir, runCli, startCli, writePlan } from './helpers/cli.js';

/** A unit's usage fields in `status --json` when no turn reported cost or tokens (text protocol). */
const NO_USAGE = { costUsd: null, inputTokens: null, outputTokens: null, sessionId: null, resumeMismatches: 0, permissionDenials: [], waiting: null, failure: null };

/** `statecrew status --json`, as documented in `src/status.ts`. */
interface StatusJson {
  milestones: { id: string; state: string }[];
  units: { id: string; milestoneId: string; state: string; attempts: number }[];
  dispatches: {
    id: string;
    unitId: string;
    attempt: number;
    state: string;
    workerId: string | null;
    fencingToken: number | null;
    startedAt: string | null;
    endedAt: string | null;
  }[];
  leases: { milestoneId: string; workerId: string; fencingToken: number | null; state: string }[];
  workers: { id: string; state: string }[];
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** `HH:MM:SS start    <unit> attempt N on <worker> (pid N)`. */
const START_LINE = /^\d{2}:\d{2}:\d{2} start +(\S+) attempt (\d+) on (\S+) \(pid (\d+)\)$/;
const ANSI = '\x1b[';

let dir: string;
const unitPids: number[] = [];

beforeAll(() => {
  if (!fs.existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
});

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(async () => {
  await killRunningClis();
  for (const pid of unitPids.splice(0)) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs `statecrew status --json` (with `--store` when given) and parses its whole stdout as one JSON value. */
async function statusJson(store?: string): Promise<StatusJson> {
  const result = await runCli(dir, 'status', ...(store === undefined ? [] : ['--store', store]), '--json');
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  const report: unknown = JSON.parse(result.stdout);
  expect(report).toBeTypeOf('object');
  expect(Array.isArray(report)).toBe(false);
  expect(Object.keys(report as object).sort()).toEqual(['budgets', 'dispatches', 'leases', 'milestones', 'units', 'workers']);
  return report as StatusJson;
}

function expectTimestamp(value: string | null): number {
  expect(value).toMatch(ISO_8601);
  const ms = Date.parse(value ?? '');
  expect(Number.isNaN(ms)).toBe(false);
  return ms;
}

const STORE = 'explicit/store.db';
const unit = (id = 'u', ...args: string[]) => ({ id, command: fixtureCommand('exit-with.mjs', ...(args.length > 0 ? args : ['0'])) });
const plan = (milestones: unknown[], fields: Record<string, unknown> = {}) => ({ version: 1, store: STORE, ...fields, milestones });
const NOT_WRITTEN = Symbol('no plan file');

const BAD_PLANS: { name: string; plan: unknown; field: string; expected: RegExp }[] = [
  { name: 'a milestone has no id', plan: plan([{ units: [unit()] }]), field: 'milestones[0].id', expected: /missing required field; expected a milestone id/ },
  {
    name: 'a unit has no id',
    plan: plan([{ id: 'm', units: [{ command: fixtureCommand('exit-with.mjs', '0') }] }]),
    field: 'milestones[0].units[0].id',
    expected: /missing required field; expected a unit id/,
  },
  {
    name: 'two milestones share an id',
    plan: plan([{ id: 'm', units: [unit('u1')] }, { id: 'm', units: [unit('u2')] }]),
    field: 'milestones[1].id',
    expected: /duplicate milestone id "m" \(first at milestones\[0\]\)/,
  },
  {
    name: 'two units in different milestones share an id',
    plan: plan([{ id: 'a', units: [unit('u')] }, { id: 'b', units: [unit('u')] }]),
    field: 'milestones[1].units[0].id',
    expected: /duplicate unit id "u" \(first at milestones\[0\]\.units\[0\]\)/,
  },
  {
    name: 'a dependency names an unknown milestone',
    plan: plan([{ id: 'm', dependsOn: ['ghost'], units: [unit()] }]),
    field: 'milestones[0].dependsOn[0]',
    expected: /unknown milestone "ghost"; known: m/,
  },
  {
    name: 'dependencies form a cycle',
    plan: plan([{ id: 'a', dependsOn: ['b'], units: [unit('u1')] }, { id: 'b', dependsOn: ['a'], units: [unit('u2')] }]),
    field: 'milestones[0].dependsOn[0]',
    expected: /dependency cycle: a -> b -> a/,
  },
  {
    name: 'a milestone depends on itself',
    plan: plan([{ id: 'm', dependsOn: ['m'], units: [unit()] }]),
    field: 'milestones[0].dependsOn[0]',
    expected: /milestone "m" depends on itself/,
  },
  {
    name: 'a duration has an unknown unit',
    plan: plan([{ id: 'm', units: [{ ...unit(), timeout: '5x' }] }]),
    field: 'milestones[0].units[0].timeout',
    expected: /expected a duration such as 500ms, 30s, 2m or 1h, got string "5x"/,
  },
  {
    name: 'a command is an empty list',
    plan: plan([{ id: 'm', units: [{ id: 'u', command: [] }] }]),
    field: 'milestones[0].units[0].command',
    expected: /expected a non-empty list: the program, then its arguments/,
  },
  {
    name: 'workers is a string',
    plan: plan([{ id: 'm', units: [unit()] }], { workers: 'two' }),
    field: 'workers',
    expected: /expected a number of workers \(a whole number of at least 1\), got string "two"/,
  },
  {
    name: 'a unit has an unknown field',
    plan: plan([{ id: 'm', units: [{ ...unit(), retries: 3 }] }]),
    field: 'milestones[0].units[0].retries',
    expected: /unknown field "retries"; expected one of: id, command/,
  },
  {
    name: 'the plan has a misspelt field',
    plan: plan([{ id: 'm', units: [unit()] }], { worker: 2 }),
    field: 'worker',
    expected: /unknown field "worker" \(did you mean "workers"\?\)/,
  },
  { name: 'the file does not exist', plan: NOT_WRITTEN, field: '(plan)', expected: /cannot read file: ENOENT/ },
  {
    name: 'the file is not YAML',
    plan: `version: 1\nstore: ${STORE}\nmilestones: [\n`,
    field: '(plan)',
    expected: /YAML syntax error at line \d+, column \d+/,
  },
  {
    name: 'the document is a list, not a mapping',
    plan: [plan([{ id: 'm', units: [unit()] }])],
    field: '(plan)',
    expected: /expected a mapping with version, milestones.*, got a list/,
  },
  { name: 'the file is empty', plan: '', field: '(plan)', expected: /the plan is empty/ },
  {
    name: 'version is 2',
    plan: plan([{ id: 'm', units: [unit()] }], { version: 2 }),
    field: 'version',
    expected: /expected 1 \(the only plan format this statecrew reads\), got number 2/,
  },
];

describe('statecrew run with invalid input', () => {
  it.each(BAD_PLANS)('exits 2, names the file and the field, and creates no store when $name', async ({ plan: body, field, expected }) => {
    const file = body === NOT_WRITTEN ? path.join(dir, 'plan.yaml') : writePlan(dir, body);
    const before = fs.readdirSync(dir);

    const result = await runCli(dir, 'run', 'plan.yaml');

    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`invalid plan ${file}:`);
    const issue = result.stderr.split('\n').find((line) => line.startsWith(`  ${field}: `));
    expect(issue, result.stderr).toMatch(expected);
    expect(result.stdout).toBe('');
    expect(fs.existsSync(path.join(dir, STORE))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'explicit'))).toBe(false);
    expect(fs.existsSync(path.join(dir, '.statecrew'))).toBe(false);
    expect(fs.readdirSync(dir)).toEqual(before);
  });

  it('exits 2 when run is given no plan', async () => {
    const result = await runCli(dir, 'run');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/missing required argument 'plan'/);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('exits 2 and creates no store when --workers is 0', async () => {
    writePlan(dir, plan([{ id: 'm', units: [unit()] }]));
    const result = await runCli(dir, 'run', 'plan.yaml', '--workers', '0');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/--workers.*expected an integer from 1 to 512, got "0"/);
    expect(fs.readdirSync(dir)).toEqual(['plan.yaml']);
  });

  it('exits 2 when --workers is above the pool limit of 512', async () => {
    writePlan(dir, plan([{ id: 'm', units: [unit()] }]));
    const result = await runCli(dir, 'run', 'plan.yaml', '--workers', '513');
    expect(result.code).toBe(2);
    expect(fs.readdirSync(dir)).toEqual(['plan.yaml']);
  });

  it('exits 2 with a one-line message when --store is not a SQLite database, and leaves that file alone', async () => {
    writePlan(dir, plan([{ id: 'm', units: [unit()] }]));
    const before = fs.readFileSync(path.join(dir, 'plan.yaml'));
    for (const args of [['run', 'plan.yaml', '--store', 'plan.yaml'], ['status', '--store', 'plan.yaml']]) {
      const result = await runCli(dir, ...args);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toMatch(/^statecrew: cannot open the store .*plan\.yaml: file is not a database/);
    }
    expect(fs.readFileSync(path.join(dir, 'plan.yaml'))).toEqual(before);
  });

  it('exits 2 when the command is unknown', async () => {
    const result = await runCli(dir, 'bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command 'bogus'/);
  });

  it('exits 2 naming the path and creates nothing when status is pointed at a missing store', async () => {
    const result = await runCli(dir, 'status', '--store', 'missing.db');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no statecrew store at .*missing\.db/);
    expect(result.stdout).toBe('');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('exits 2 and creates no .statecrew folder when status finds no store at the default path', async () => {
    const result = await runCli(dir, 'status', '--json');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('.statecrew/statecrew.db');
    expect(result.stdout).toBe('');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('statecrew run then status', () => {
  it('exits 0 and status reports every actor completed when all units succeed', async () => {
    writePlan(dir, {
      version: 1,
      workers: 2,
      store: 'db/run.db',
      milestones: [
        { id: 'core', units: [unit('compile-core'), { id: 'test-core', command: fixtureCommand('sleep-then-exit.mjs', '100') }] },
        { id: 'cli', dependsOn: ['core'], units: [unit('package-cli')] },
      ],
    });

    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toBe('');

    const status = await statusJson('db/run.db');
    expect(status.milestones).toEqual([
      { id: 'core', state: 'completed', workspace: null, spentUsd: 0, failure: null },
      { id: 'cli', state: 'completed', workspace: null, spentUsd: 0, failure: null },
    ]);
    expect(status.units).toEqual([
      { id: 'compile-core', milestoneId: 'core', state: 'completed', attempts: 1, turns: 1, ...NO_USAGE },
      { id: 'test-core', milestoneId: 'core', state: 'completed', attempts: 1, turns: 1, ...NO_USAGE },
      { id: 'package-cli', milestoneId: 'cli', state: 'completed', attempts: 1, turns: 1, ...NO_USAGE },
    ]);
    expect(status.workers).toHaveLength(2);
    for (const worker of status.workers) expect(worker).toEqual({ id: expect.any(String), state: 'completed' });
    const workerIds = status.workers.map((w) => w.id);
    expect(status.leases.map((l) => l.milestoneId).sort()).toEqual(['cli', 'core']);
    for (const lease of status.leases) {
      expect(lease).toEqual({ milestoneId: expect.any(String), workerId: expect.any(String), fencingToken: expect.any(Number), state: 'released' });
      expect(workerIds).toContain(lease.workerId);
    }
    expect(status.dispatches.map((d) => d.unitId)).toEqual(['compile-core', 'test-core', 'package-cli']);
    const ended = new Map<string, number>();
    const started = new Map<string, number>();
    for (const dispatch of status.dispatches) {
      expect(dispatch).toMatchObject({ id: expect.any(String), attempt: 1, state: 'completed', workerId: expect.any(String) });
      const milestoneId = status.units.find((u) => u.id === dispatch.unitId)?.milestoneId;
      const lease = status.leases.find((l) => l.milestoneId === milestoneId);
      expect({ workerId: dispatch.workerId, fencingToken: dispatch.fencingToken }).toEqual({ workerId: lease?.workerId, fencingToken: lease?.fencingToken });
      started.set(dispatch.unitId, expectTimestamp(dispatch.startedAt));
      ended.set(dispatch.unitId, expectTimestamp(dispatch.endedAt));
      expect(ended.get(dispatch.unitId)).toBeGreaterThanOrEqual(started.get(dispatch.unitId) ?? Infinity);
    }
    expect(started.get('package-cli')).toBeGreaterThanOrEqual(Math.max(ended.get('compile-core') ?? Infinity, ended.get('test-core') ?? Infinity));

    const human = await runCli(dir, 'status', '--store', 'db/run.db');
    expect(human.code).toBe(0);
    for (const id of ['compile-core', 'test-core', 'package-cli', 'core', 'cli']) expect(human.stdout).toContain(id);
  });

  it('runs every unit again on a new store, though the old store\'s logs and status files are still in its folder', async () => {
    // The same dispatch ids log to the same paths: an old status file must not pass for the new turn's.
    const ran = path.join(dir, 'ran.jsonl');
    writePlan(dir, plan([{ id: 'm', units: [{ id: 'u', command: fixtureCommand('tick-logger.mjs', ran, '20') }] }]));
    expect((await runCli(dir, 'run', 'plan.yaml')).code).toBe(0);
    for (const suffix of ['', '-wal', '-shm']) fs.rmSync(path.join(dir, `${STORE}${suffix}`), { force: true });
    const again = await runCli(dir, 'run', 'plan.yaml');
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toMatch(/start +u attempt 1/);
    const starts = fs.readFileSync(ran, 'utf8').split('\n').filter((line) => line.includes('"event":"start"'));
    expect(starts).toHaveLength(2);
  });

  it('exits 1 and status shows the unit failed and its dependents blocked when a unit runs out of attempts', async () => {
    writePlan(dir, {
      version: 1,
      milestones: [
        { id: 'core', units: [{ ...unit('explode', '3', 'boom'), maxAttempts: 2, retryBackoff: '100ms' }] },
        { id: 'cli', dependsOn: ['core'], units: [unit('package-cli')] },
      ],
    });

    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(1);
    expect(run.stdout).toMatch(/failed: explode/);
    expect(run.stdout).toMatch(/blocked: package-cli/);

    const status = await statusJson();
    expect(status.milestones).toEqual([
      { id: 'core', state: 'failed', workspace: null, spentUsd: 0, failure: null },
      { id: 'cli', state: 'blocked', workspace: null, spentUsd: 0, failure: null },
    ]);
    expect(status.units).toEqual([
      { id: 'explode', milestoneId: 'core', state: 'failed', attempts: 2, turns: 2, ...NO_USAGE },
      { id: 'package-cli', milestoneId: 'cli', state: 'blocked', attempts: 0, turns: 0, ...NO_USAGE },
    ]);
    expect(status.dispatches).toMatchObject([
      { unitId: 'explode', attempt: 1, state: 'failed', reason: expect.stringMatching(/exit code 3.*boom/) },
      { unitId: 'explode', attempt: 2, state: 'failed', reason: expect.stringMatching(/exit code 3.*boom/) },
    ]);
    expect(status.leases.map((l) => l.state)).toEqual(['released']);
  });

  it('exits 0 with attempts 2 when a unit fails once and then succeeds', async () => {
    const marker = path.join(dir, 'failed-once');
    writePlan(dir, {
      version: 1,
      store: 'run.db',
      milestones: [{ id: 'core', units: [{ id: 'flaky', command: fixtureCommand('fail-once.mjs', marker), retryBackoff: '100ms' }] }],
    });

    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(fs.existsSync(marker)).toBe(true);

    const status = await statusJson('run.db');
    expect(status.units).toEqual([{ id: 'flaky', milestoneId: 'core', state: 'completed', attempts: 2, turns: 2, ...NO_USAGE }]);
    expect(status.milestones).toEqual([{ id: 'core', state: 'completed', workspace: null, spentUsd: 0, failure: null }]);
    expect(status.dispatches).toMatchObject([
      { unitId: 'flaky', attempt: 1, state: 'failed' },
      { unitId: 'flaky', attempt: 2, state: 'completed' },
    ]);
  });
});

describe('statecrew run stopped by a signal', () => {
  it.each([
    { signal: 'SIGINT', code: 130 },
    { signal: 'SIGTERM', code: 143 },
  ] as const)('exits $code, kills the unit and releases everything when $signal arrives mid-turn', async ({ signal, code }) => {
    writePlan(dir, {
      version: 1,
      store: 'run.db',
      milestones: [{ id: 'wait', units: [{ id: 'forever', command: fixtureCommand('silent-forever.mjs'), stallTimeout: '1h' }] }],
    });

    const cli = startCli(dir, ['run', 'plan.yaml']);
    const [, unitId, , , pidText] = await cli.waitForLine(START_LINE);
    const pid = Number(pidText);
    unitPids.push(pid);
    expect(unitId).toBe('forever');
    expect(isAlive(pid)).toBe(true);

    cli.kill(signal);
    const result = await cli.done;

    expect(result.code, result.stdout + result.stderr).toBe(code);
    expect(result.stdout).toContain(`stopped (${signal})`);
    expect(isAlive(pid)).toBe(false);
    const status = await statusJson('run.db');
    expect(status.workers.length).toBeGreaterThan(0);
    for (const worker of status.workers) expect(worker.state).toBe('stopped');
    expect(status.leases).toMatchObject([{ milestoneId: 'wait', state: 'released' }]);
    expect(status.dispatches).toMatchObject([{ unitId: 'forever', attempt: 1, state: 'canceled' }]);
    expectTimestamp(status.dispatches[0]?.endedAt ?? null);
    expect(status.units).toMatchObject([{ id: 'forever', milestoneId: 'wait', state: 'pending' }]);
    expect(status.milestones.map((m) => m.state)).not.toContain('completed');
  });
});

describe('statecrew output without a TTY', () => {
  it('prints plain lines, one per event, without ANSI escapes when stdout is a pipe', async () => {
    const marker = path.join(dir, 'failed-once');
    writePlan(dir, {
      version: 1,
      workers: 1,
      milestones: [
        {
          id: 'core',
          units: [unit('compile-core'), { id: 'flaky', command: fixtureCommand('fail-once.mjs', marker), retryBackoff: '100ms' }],
        },
      ],
    });

    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).not.toContain(ANSI);
    expect(run.stderr).not.toContain(ANSI);
    expect(run.stdout).not.toContain('\r');
    expect(run.stdout.endsWith('\n')).toBe(true);

    const lines = run.stdout.slice(0, -1).split('\n');
    const summary = lines.pop();
    expect(summary).toMatch(/^2\/2 units completed in \S+ · \d+ transitions persisted to \.statecrew\/statecrew\.db$/);
    for (const line of lines) expect(line).toMatch(/^\d{2}:\d{2}:\d{2} (milestone|lease|start|done|failed) /);
    const starts = lines.filter((line) => START_LINE.test(line)).map((line) => START_LINE.exec(line)?.slice(1, 3));
    expect(starts).toEqual([
      ['compile-core', '1'],
      ['flaky', '1'],
      ['flaky', '2'],
    ]);
    expect(lines.filter((line) => / done +/.test(line))).toHaveLength(2);
    expect(lines.filter((line) => / failed +flaky attempt 1: /.test(line))).toHaveLength(1);
    expect(lines.filter((line) => / lease +core → /.test(line))).toHaveLength(1);
    expect(lines.filter((line) => / milestone core /.test(line)).map((line) => line.split(' ').at(-1))).toEqual(['running', 'completed']);

    const status = await statusJson();
    expect(status.dispatches).toHaveLength(starts.length);
    const human = await runCli(dir, 'status');
    expect(human.code).toBe(0);
    expect(human.stdout).not.toContain(ANSI);
  });
});
