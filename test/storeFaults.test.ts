import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import Database from 'better-sqlite3';
import { openStoreAt, storeFromDatabase } from '../persistence/openStore.js';
import type { RuntimeEvents } from '../src/events.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { nextEvent } from './helpers/runtimeEvents.js';
import { fixture, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-faults-'));
});

afterEach(() => cleanup());

const node = JSON.stringify(process.execPath);
const script = (name: string) => JSON.stringify(fixture(name));

function plan(lines: string[]) {
  return parsePlan(['version: 1', ...lines].join('\n'), { file: path.join(dir, 'plan.yaml'), cwd: dir });
}

function manyUnits(count: number, command: string): string[] {
  const lines = ['workers: 2', 'milestones:'];
  for (let m = 0; m < 2; m++) {
    lines.push(`  - id: m${m}`, '    units:');
    for (let u = 0; u < count; u++) lines.push(`      - { id: m${m}/u${u}, command: ${command} }`);
  }
  return lines;
}

describe('store faults', () => {
  it('stops with exit code 4 when the disk fills up, kills its turns, leaves the store intact, and resumes later', async () => {
    const file = path.join(dir, 's.db');
    const thePlan = plan(manyUnits(20, `[${node}, ${script('sleep-then-exit.mjs')}, "150"]`));
    const full = new Database(file);
    const store = storeFromDatabase(full);
    const pages = full.pragma('page_count', { simple: true }) as number;
    // Fault injection: the database file may grow by a handful of pages only, like a full disk.
    full.pragma(`max_page_count = ${pages + 6}`);
    const runtime = createRuntime({ store, logsDir: path.join(dir, 'logs') });
    const pids: number[] = [];
    runtime.events.on('unit.started', (event) => pids.push(event.pid));
    const failed = nextEvent(runtime.events, 'runtime.store-failed');
    await runtime.start(thePlan);
    const result = await runtime.finished;
    await store.close();

    expect(result.exitCode).toBe(4);
    expect(result.reason).toMatch(/store failure: .*database or disk is full/);
    expect((await failed).survivors).toEqual([]);
    for (const pid of pids) expect(isProcessAlive(pid, null)).toBe(false);

    const check = openStoreAt(file);
    expect(await check.checkIntegrity()).toEqual([]);
    await check.close();

    const resumed = createRuntime({ store: file });
    await resumed.start(thePlan);
    const after = await resumed.finished;
    await resumed.store.close();
    expect(after.exitCode).toBe(0);
    expect([...after.progress.units.values()].every((unit) => unit.state === 'completed')).toBe(true);
  });

  it('quarantines corrupt, unknown-version, misshapen and impossible-state rows, reports them, and runs everything else', async () => {
    const file = path.join(dir, 's.db');
    const thePlan = plan([
      'workers: 4',
      'milestones:',
      ...['a', 'b', 'c', 'd'].flatMap((m) => [`  - id: ${m}`, `    units: [{ id: ${m}/slow, command: [${node}, ${script('sleep-then-exit.mjs')}, "300"] }]`]),
    ]);
    const first = createRuntime({ store: file });
    let running = 0;
    const allRunning = new Promise<void>((resolve) =>
      first.events.on('unit.started', () => {
        running++;
        if (running === 4) resolve();
      }),
    );
    await first.start(thePlan);
    await allRunning;
    first.detach();

    const raw = new Database(file);
    raw.prepare("UPDATE actors SET snapshot = '{not json' WHERE id = 'a/slow#1'").run();
    raw.prepare("UPDATE actors SET machine_version = 99 WHERE id = 'b/slow#1'").run();
    raw.prepare("UPDATE actors SET snapshot = json_set(snapshot, '$.value', 'vanished') WHERE id = 'c/slow#1'").run();
    raw.prepare("UPDATE actors SET snapshot = json_set(snapshot, '$.context', json('[]')) WHERE id = 'd/slow#1'").run();
    raw.close();

    const second = createRuntime({ store: file });
    const quarantined: RuntimeEvents['actor.quarantined'][] = [];
    second.events.on('actor.quarantined', (event) => quarantined.push(event));
    await second.start(thePlan);
    const result = await second.finished;
    const dispatches = await second.store.listDispatches();
    const rows = await Promise.all(['a/slow#1', 'b/slow#1', 'c/slow#1', 'd/slow#1'].map((id) => second.store.getActor(id)));
    const journal = (await second.store.journal('c/slow#1')).at(-1);
    await second.store.close();

    expect(quarantined.map((q) => [q.actorId, q.error.message])).toEqual([
      ['a/slow#1', expect.stringMatching(/snapshot is not JSON/)],
      ['b/slow#1', expect.stringMatching(/statecrew.dispatch@99\): no migration to version 1/)],
      ['c/slow#1', expect.stringMatching(/snapshot does not fit the machine: State 'vanished' does not exist/)],
      ['d/slow#1', expect.stringMatching(/not a persisted snapshot: .*expected an object[\s\S]*at context/)],
    ]);
    expect(rows.map((row) => row?.status)).toEqual(['quarantined', 'quarantined', 'quarantined', 'quarantined']);
    expect(journal).toMatchObject({ eventType: 'statecrew.quarantine', toState: 'quarantined' });
    expect(result.exitCode).toBe(0);
    expect(dispatches.filter((d) => d.state === 'quarantined').map((d) => d.id)).toEqual(['a/slow#1', 'b/slow#1', 'c/slow#1', 'd/slow#1']);
    expect(dispatches.filter((d) => d.state === 'completed').map((d) => d.unitId).sort()).toEqual(['a/slow', 'b/slow', 'c/slow', 'd/slow']);
  });

  it('upgrades a snapshot of an older machine version through a migration hook', async () => {
    const file = path.join(dir, 's.db');
    const thePlan = plan(['workers: 1', 'milestones:', `  - id: m`, `    units: [{ id: m/u, command: [${node}, ${script('exit-with.mjs')}, "0"] }]`]);
    const first = createRuntime({ store: file });
    const booted = nextEvent(first.events, 'actor.transition', (e) => e.kind === 'worker' && e.to === 'between_turns');
    await first.start(thePlan);
    await booted;
    first.detach();
    // Pretend worker-1 was written by version 0 of the worker machine, whose context called `turns` `turnCount`.
    const raw = new Database(file);
    raw
      .prepare(
        "UPDATE actors SET machine_version = 0, snapshot = json_remove(json_set(snapshot, '$.context.turnCount', 0), '$.context.turns') WHERE id = 'worker-1'",
      )
      .run();
    raw.close();

    const migrated: number[] = [];
    const second = createRuntime({
      store: file,
      migrations: {
        worker: (snapshot, fromVersion) => {
          migrated.push(fromVersion);
          const s = snapshot as { context: { turnCount?: number } & Record<string, unknown> };
          const { turnCount, ...context } = s.context;
          return { ...s, context: { ...context, turns: turnCount ?? 0 } };
        },
      },
    });
    await second.start(thePlan);
    const result = await second.finished;
    const worker = await second.store.getActor('worker-1');
    await second.store.close();
    expect(migrated).toEqual([0]);
    expect(result.exitCode).toBe(0);
    expect(worker).toMatchObject({ status: 'done', machineVersion: 1 });
  });
});
