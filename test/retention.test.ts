/**
 * Retention end to end (docs/retention.md): a runtime compacting its store in the background
 * while it runs, and `statecrew compact` on a store a real run left; real SQLite files, real
 * child processes.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import type { RuntimeEvents } from '../src/events.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { fixtureCommand, runCli, writePlan } from './helpers/cli.js';
import { tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-retention-'));
});
afterEach(() => cleanup());

const sleep = (ms: number) => fixtureCommand('sleep-then-exit.mjs', String(ms));

describe('retention in a running runtime', () => {
  it('drops the journal and stored output of finished work in the background while the run goes on, and every unit still reports completed', async () => {
    const units = Array.from({ length: 4 }, (_, i) => `{ id: m/u${i + 1}, command: ${JSON.stringify(sleep(250))} }`).join(', ');
    const plan = parsePlan(
      ['version: 1', 'workers: 1', 'retention: { journal: 0s, turnOutput: 0s, every: 100ms }', 'milestones:', '  - id: m', `    units: [${units}]`].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    const storeFile = path.join(dir, 's.db');
    const runtime = createRuntime({ store: storeFile });
    const compacted: RuntimeEvents['retention.compacted'][] = [];
    runtime.events.on('retention.compacted', (event) => compacted.push(event));
    await runtime.start(plan);
    const result = await runtime.finished;
    await runtime.store.close();

    expect(result.exitCode).toBe(0);
    expect(compacted.length).toBeGreaterThan(0);
    expect(compacted.reduce((sum, event) => sum + event.journalActors, 0)).toBeGreaterThan(0);
    const store = openStoreAt(storeFile, { readonly: true });
    try {
      // The first unit's dispatch finished long before the end: its journal and stored output are gone.
      expect(await store.journal('m/u1#1')).toEqual([]);
      expect(await store.readTurnOutput('m/u1#1')).toEqual([]);
      expect((await store.compactionState()).journal.through).not.toBeNull();
      // Its row and its projection stay: status still has every unit.
      expect((await store.getActor('m/u1#1'))?.status).toBe('done');
      expect((await store.listDispatches()).map((d) => [d.unitId, d.state])).toEqual([
        ['m/u1', 'completed'],
        ['m/u2', 'completed'],
        ['m/u3', 'completed'],
        ['m/u4', 'completed'],
      ]);
      expect(await store.checkIntegrity()).toEqual([]);
    } finally {
      await store.close();
    }
  }, 60_000);
});

describe('statecrew compact', () => {
  it('drops finished work by the periods given, vacuums, and leaves status, doctor and a noted journal behind', async () => {
    writePlan(dir, {
      version: 1,
      workers: 2,
      milestones: [
        { id: 'a', units: [{ id: 'a/1', command: sleep(50) }, { id: 'a/2', command: sleep(50) }] },
        { id: 'b', units: [{ id: 'b/1', command: sleep(50) }] },
      ],
    });
    const run = await runCli(dir, 'run', 'plan.yaml');
    expect(run.code, run.stderr).toBe(0);
    expect((await runCli(dir, 'journal', '--actor', 'a/1#1')).stdout).toMatch(/a\/1#1 {2}#1 /);

    // No period given and none in the plan: nothing is dropped, exit 2.
    const nothing = await runCli(dir, 'compact');
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toMatch(/nothing to compact: give --journal, --turn-output or --actors/);
    const badPeriod = await runCli(dir, 'compact', '--journal', 'a week');
    expect(badPeriod.code).toBe(2);
    expect(badPeriod.stderr).toMatch(/expected a period such as 0s, 12h or 7d/);

    const compact = await runCli(dir, 'compact', '--journal', '0s', '--turn-output', '0s', '--actors', '0s', '--vacuum');
    expect(compact.code, compact.stderr).toBe(0);
    expect(compact.stdout).toMatch(/^dropped [1-9]\d* journal rows of [1-9]\d* finished actors, \d+ turn output rows of 3 finished dispatches, [1-9]\d* finished actor rows\nvacuumed: [\d.]+ MiB → [\d.]+ MiB\n$/);

    const journal = await runCli(dir, 'journal', '--actor', 'a/1#1');
    expect(journal.code).toBe(0);
    expect(journal.stdout).toBe('');
    expect(journal.stderr).toMatch(/the journal of actors that finished at or before \S+ was dropped by retention/);

    const status = await runCli(dir, 'status', '--json');
    expect(status.code).toBe(0);
    const units = (JSON.parse(status.stdout) as { units: { id: string; state: string }[] }).units;
    expect(units.map((unit) => [unit.id, unit.state])).toEqual([['a/1', 'completed'], ['a/2', 'completed'], ['b/1', 'completed']]);
    const doctor = await runCli(dir, 'doctor');
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(fs.existsSync(path.join(dir, '.statecrew', 'statecrew.db-wal')) ? fs.statSync(path.join(dir, '.statecrew', 'statecrew.db-wal')).size : 0).toBe(0);
  }, 60_000);
});
