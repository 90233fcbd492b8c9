import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import type { TransitionWrite } from '../persistence/types.js';
import { BUILT_CLI, fixtureCommand, killRunningClis, makeTempDir, runCli, writePlan } from './helpers/cli.js';

/** `<ISO time>  <actor id>  #<seq>  <from> → <to>  (<event type>)`, `from` being `∅` for an actor's first row. */
const LINE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) {2}(\S+) {2}#(\d+) {2}(\S+) → (\S+) {2}\((\S+)\)$/;
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** One line of `statecrew journal --json`. */
interface JournalJson {
  at: string;
  actorId: string;
  kind: string;
  seq: number;
  event: string;
  from: string | null;
  to: string;
  snapshot?: unknown;
}

/** A plain journal line, taken apart. */
interface JournalLine {
  at: string;
  actorId: string;
  seq: number;
  from: string;
  to: string;
  event: string;
}

function splitLines(stdout: string): string[] {
  return stdout === '' ? [] : stdout.replace(/\n$/, '').split('\n');
}

/** Runs `statecrew journal ...args` in `cwd`, expects exit 0 and nothing on stderr, and returns the stdout lines. */
async function journal(cwd: string, ...args: string[]): Promise<string[]> {
  const result = await runCli(cwd, 'journal', ...args);
  expect(result, result.stderr).toMatchObject({ code: 0, stderr: '' });
  return splitLines(result.stdout);
}

async function journalJson(cwd: string, ...args: string[]): Promise<JournalJson[]> {
  return (await journal(cwd, '--json', ...args)).map((line) => JSON.parse(line) as JournalJson);
}

function parseLine(line: string): JournalLine {
  const match = LINE.exec(line);
  expect(match, line).not.toBeNull();
  const [, at = '', actorId = '', seq = '', from = '', to = '', event = ''] = match ?? [];
  return { at, actorId, seq: Number(seq), from, to, event };
}

/** The order the journal promises: time, then actor id, then sequence number. */
function compareRows(a: { at: string; actorId: string; seq: number }, b: { at: string; actorId: string; seq: number }): number {
  return Date.parse(a.at) - Date.parse(b.at) || (a.actorId < b.actorId ? -1 : a.actorId > b.actorId ? 1 : 0) || a.seq - b.seq;
}

beforeAll(() => {
  if (!fs.existsSync(BUILT_CLI)) throw new Error(`${BUILT_CLI} is missing: run \`npm run build\` first`);
});

describe('statecrew journal of a finished run', () => {
  let dir: string;
  /** `N` of the run's summary, `N transitions persisted to …`. */
  let persisted: number;
  let dispatchIds: string[];

  beforeAll(async () => {
    dir = makeTempDir();
    writePlan(dir, {
      version: 1,
      workers: 1,
      milestones: [
        { id: 'core', units: [{ id: 'compile', command: fixtureCommand('exit-with.mjs', '0') }] },
        { id: 'cli', dependsOn: ['core'], units: [{ id: 'package', command: fixtureCommand('exit-with.mjs', '0') }] },
      ],
    });
    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    persisted = Number(/(\d+) transitions persisted to /.exec(run.stdout)?.[1]);
    expect(persisted).toBeGreaterThan(0);
    const status = await runCli(dir, 'status', '--json');
    expect(status.code, status.stderr).toBe(0);
    dispatchIds = (JSON.parse(status.stdout) as { dispatches: { id: string }[] }).dispatches.map((d) => d.id);
    expect(dispatchIds).toHaveLength(2);
  });

  afterAll(async () => {
    await killRunningClis();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('prints every persisted transition of workers, leases, dispatches and supervisors, oldest first, one per line', async () => {
    const lines = await journal(dir);
    const rows = lines.map(parseLine);
    expect(rows).toHaveLength(persisted);
    expect([...rows].sort(compareRows)).toEqual(rows);

    const kinds = new Map((await journalJson(dir)).map((row) => [row.actorId, row.kind]));
    expect(new Set(kinds.values())).toEqual(new Set(['worker', 'lease', 'dispatch', 'supervisor']));
    for (const actorId of kinds.keys()) {
      const own = rows.filter((row) => row.actorId === actorId);
      expect(own.map((row) => row.seq)).toEqual(own.map((_, i) => i + 1));
      expect(own[0]?.from).toBe('∅');
      for (let i = 1; i < own.length; i++) expect(own[i]?.from, `${actorId} #${i + 1}`).toBe(own[i - 1]?.to);
    }
  });

  it('reads the default store, .statecrew/statecrew.db, when --store is not given', async () => {
    expect(await journal(dir)).toEqual(await journal(dir, '--store', '.statecrew/statecrew.db'));
  });

  it("shows exactly one dispatch's transitions, from pending.backoff to completed, with --actor", async () => {
    for (const dispatchId of dispatchIds) {
      const rows = (await journal(dir, '--actor', dispatchId)).map(parseLine);
      expect(rows.map((row) => [row.actorId, row.seq, row.from, row.to])).toEqual([
        [dispatchId, 1, '∅', 'pending.backoff'],
        [dispatchId, 2, 'pending.backoff', 'pending.ready'],
        [dispatchId, 3, 'pending.ready', 'claimed'],
        [dispatchId, 4, 'claimed', 'running'],
        [dispatchId, 5, 'running', 'completed'],
      ]);
    }
  });

  it('prints nothing when --actor names no actor', async () => {
    expect(await journal(dir, '--actor', 'ghost')).toEqual([]);
  });

  it('shows only the transitions of lease actors, in the same order, with --kind lease', async () => {
    const all = await journalJson(dir);
    const leaseIds = new Set(all.filter((row) => row.kind === 'lease').map((row) => row.actorId));
    expect(leaseIds.size).toBe(2);

    const leases = await journal(dir, '--kind', 'lease');
    const full = await journal(dir);
    expect(leases).toEqual(full.filter((line) => leaseIds.has(parseLine(line).actorId)));
    expect(leases.map(parseLine).map((row) => row.to)).toContain('released');
  });

  it('prints one JSON object per line with --json: at, actorId, kind, seq, event, from, to and no snapshot', async () => {
    const lines = await journal(dir, '--json');
    const plain = (await journal(dir)).map(parseLine);
    expect(lines).toHaveLength(plain.length);
    lines.forEach((line, i) => {
      const row = JSON.parse(line) as JournalJson;
      expect(Object.keys(row)).toEqual(['at', 'actorId', 'kind', 'seq', 'event', 'from', 'to']);
      expect(row.at).toMatch(ISO_8601);
      expect(new Date(Date.parse(row.at)).toISOString()).toBe(row.at);
      expect(row.from === null).toBe(row.seq === 1);
      expect(row).toEqual({ ...plain[i], from: plain[i]?.from === '∅' ? null : plain[i]?.from, kind: row.kind });
    });
  });

  it('adds each row’s snapshot, parsed, with --snapshots', async () => {
    const rows = await journalJson(dir, '--snapshots');
    expect(rows).toHaveLength(persisted);
    for (const row of rows) {
      expect(Object.keys(row)).toEqual(['at', 'actorId', 'kind', 'seq', 'event', 'from', 'to', 'snapshot']);
      expect(row.snapshot).toBeTypeOf('object');
      expect(row.snapshot).not.toBeNull();
    }
    const withoutSnapshots = rows.map((row) => {
      const copy = { ...row };
      delete copy.snapshot;
      return copy;
    });
    expect(withoutSnapshots).toEqual(await journalJson(dir));
  });

  it('shows every transition with --since 1h and none with --since 2999-01-01T00:00:00Z', async () => {
    const all = await journal(dir);
    expect(await journal(dir, '--since', '1h')).toEqual(all);
    expect(await journal(dir, '--since', '2999-01-01T00:00:00Z')).toEqual([]);
  });

  it('starts at the given time, inclusive, when --since is an ISO-8601 time', async () => {
    const all = await journal(dir);
    const middle = parseLine(all[Math.floor(all.length / 2)] ?? '').at;
    const expected = all.filter((line) => Date.parse(parseLine(line).at) >= Date.parse(middle));
    expect(expected.length).toBeLessThan(all.length);
    expect(await journal(dir, '--since', middle)).toEqual(expected);
  });

  it('prints the N most recent transitions, oldest first, with --limit N', async () => {
    const all = await journal(dir);
    expect(await journal(dir, '--limit', '3')).toEqual(all.slice(-3));
    expect(await journal(dir, '--limit', String(all.length + 10))).toEqual(all);
    expect(await journal(dir, '--kind', 'dispatch', '--limit', '1')).toEqual(all.filter((line) => dispatchIds.includes(parseLine(line).actorId)).slice(-1));
  });

  it.each([
    { option: '--since', value: 'yesterday', expected: /option '--since <time>' argument 'yesterday' is invalid\. expected an ISO-8601 time .* or a duration ago/ },
    { option: '--since', value: '2026-02-30T00:00:00Z', expected: /option '--since <time>'.*expected an ISO-8601 time/ },
    { option: '--since', value: '2026-11-21T06:00:00', expected: /option '--since <time>'.*with a zone/ },
    { option: '--kind', value: 'robot', expected: /option '--kind <kind>' argument 'robot' is invalid\. Allowed choices are worker, lease, dispatch, supervisor/ },
    { option: '--limit', value: '0', expected: /option '--limit <n>' argument '0' is invalid\. expected a whole number/ },
  ])('exits 2 naming $option and what it expects when $option is $value', async ({ option, value, expected }) => {
    const result = await runCli(dir, 'journal', option, value);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(expected);
    expect(result.stdout).toBe('');
  });
});

describe('statecrew journal without a store', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('exits 2 naming the path and creates nothing when --store names a missing file', async () => {
    const result = await runCli(dir, 'journal', '--store', 'missing.db');
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no statecrew store at .*missing\.db/);
    expect(result.stdout).toBe('');
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('exits 2 and creates no .statecrew folder when there is no store at the default path', async () => {
    const result = await runCli(dir, 'journal', '--json');
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('.statecrew/statecrew.db');
    expect(result.stdout).toBe('');
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});

describe('statecrew journal order', () => {
  let dir: string;

  /** A worker transition persisted at `at` ms since the epoch; states are `s1`, `s2`, … */
  function workerWrite(id: string, seq: number, at: number): TransitionWrite {
    const state = `s${seq}`;
    return {
      actorId: id,
      kind: 'worker',
      machineId: 'statecrew.worker',
      machineVersion: 1,
      state,
      status: 'active',
      snapshot: JSON.stringify({ value: state, seq }),
      eventType: seq === 1 ? 'xstate.init' : 'STEP',
      fromState: seq === 1 ? null : `s${seq - 1}`,
      at,
      projection: { kind: 'worker', row: { id, state, milestoneId: null, unitId: null, dispatchId: null, fencingToken: null, pid: null, turns: 0 } },
      seq,
    };
  }

  beforeEach(async () => {
    dir = makeTempDir();
    const store = openStoreAt(path.join(dir, 'ordered.db'));
    try {
      // Key order (actor id, seq) differs from time order on purpose.
      for (const [id, seq, at] of [
        ['w-a', 1, 1_000],
        ['w-b', 1, 1_500],
        ['w-a', 2, 2_000],
        ['w-c', 1, 2_000],
        ['w-b', 2, 2_000],
        ['w-a', 3, 2_000],
      ] as const) {
        await store.commitJob([workerWrite(id, seq, at)]);
      }
    } finally {
      await store.close();
    }
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('orders rows by time, then actor id, then sequence number', async () => {
    expect(await journal(dir, '--store', 'ordered.db')).toEqual([
      '1970-01-01T00:00:01.000Z  w-a  #1  ∅ → s1  (xstate.init)',
      '1970-01-01T00:00:01.500Z  w-b  #1  ∅ → s1  (xstate.init)',
      '1970-01-01T00:00:02.000Z  w-a  #2  s1 → s2  (STEP)',
      '1970-01-01T00:00:02.000Z  w-a  #3  s2 → s3  (STEP)',
      '1970-01-01T00:00:02.000Z  w-b  #2  s1 → s2  (STEP)',
      '1970-01-01T00:00:02.000Z  w-c  #1  ∅ → s1  (xstate.init)',
    ]);
  });

  it('keeps that order with --limit, --since and --snapshots', async () => {
    const last = (lines: string[]) => lines.map((line) => `${parseLine(line).actorId}#${parseLine(line).seq}`);
    expect(last(await journal(dir, '--store', 'ordered.db', '--limit', '2'))).toEqual(['w-b#2', 'w-c#1']);
    expect(last(await journal(dir, '--store', 'ordered.db', '--since', '1970-01-01T00:00:01.500Z'))).toEqual(['w-b#1', 'w-a#2', 'w-a#3', 'w-b#2', 'w-c#1']);
    expect((await journalJson(dir, '--store', 'ordered.db', '--snapshots', '--actor', 'w-a')).map((row) => row.snapshot)).toEqual([
      { value: 's1', seq: 1 },
      { value: 's2', seq: 2 },
      { value: 's3', seq: 3 },
    ]);
  });
});

describe('statecrew journal of stream-json turns', () => {
  it('shows the session each turn reported, and a resume mismatch, in text and in JSON', async () => {
    const dir = makeTempDir();
    try {
      writePlan(dir, {
        version: 1,
        workers: 1,
        defaults: { protocol: 'stream-json', retryBackoff: '10ms', maxAttempts: 2 },
        milestones: [{ id: 'm', units: [{ id: 'agent', command: fixtureCommand('fake-claude.mjs', '--mode', 'mismatch', '--resume', '{sessionId}'), input: 'go' }] }],
      });
      expect((await runCli(dir, 'run', 'plan.yaml')).code).toBe(0);
      // The first attempt failed under one session; the retry resumed it and reported another.
      const finishes = (await journal(dir, '--kind', 'dispatch')).filter((line) => line.includes('(FINISH)'));
      expect(finishes).toHaveLength(2);
      const [first = '', second = ''] = finishes;
      const [, sessionA = ''] = /session (\S+)$/.exec(first) ?? [];
      expect(first).toMatch(/ {2}agent#1 {2}#\d+ {2}running → failed {2}\(FINISH\) {2}session session-\S+$/);
      expect(second).toMatch(/ {2}agent#2 {2}#\d+ {2}running → completed {2}\(FINISH\) {2}session session-\S+ {2}resume mismatch$/);
      expect(second).not.toContain(sessionA);
      const rows = (await journalJson(dir, '--actor', 'agent#2')).filter((row) => row.event === 'FINISH');
      expect(rows).toEqual([expect.objectContaining({ sessionId: expect.stringMatching(/^session-/), resumeMismatch: true })]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
