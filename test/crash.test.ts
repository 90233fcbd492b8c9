import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import { tempDir } from './helpers/tempStore.js';
import { CLI_PATH, exitOf, overlaps, readTicks, startStatecrew, tickUnit, whenTicks } from './helpers/ticks.js';

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-crash-'));
});

afterEach(() => cleanup());

const startRun = (run: string) => startStatecrew(dir, run, ['run', 'plan.yaml']);
const exited = exitOf;

describe('statecrew run after SIGKILL', () => {
  it('resumes: every unit completes, none runs again after completing, none runs twice at once, no orphan survives', async () => {
    const ticks = path.join(dir, 'ticks.jsonl');
    const unit = (id: string, ms: number) => tickUnit(id, ms, ticks);
    fs.writeFileSync(
      path.join(dir, 'plan.yaml'),
      [
        'version: 1',
        'workers: 2',
        'store: state/statecrew.db',
        'defaults: { retryBackoff: 100ms }',
        'milestones:',
        '  - id: a',
        '    units:',
        unit('a/1', 150),
        unit('a/2', 1500),
        unit('a/3', 150),
        '  - id: b',
        '    units:',
        unit('b/1', 1500),
        unit('b/2', 150),
        '  - id: c',
        '    dependsOn: [a]',
        '    units:',
        unit('c/1', 150),
      ].join('\n'),
    );

    const first = startRun('1');
    const firstExit = exited(first);
    const beforeKill = await whenTicks(ticks, (all) => {
      const ended = new Set(all.filter((t) => t.event === 'end').map((t) => t.unit));
      const running = all.filter((t) => t.event === 'tick' && !ended.has(t.unit));
      return ended.has('a/1') && running.some((t) => t.unit === 'a/2') && running.some((t) => t.unit === 'b/1');
    });
    first.kill('SIGKILL');
    expect(await firstExit).toBeNull();
    const completedInRun1 = new Set(beforeKill.filter((t) => t.event === 'end').map((t) => t.unit));
    const run1Pids = [...new Set(readTicks(ticks).filter((t) => t.run === '1').map((t) => t.pid))];

    const second = startRun('2');
    expect(await exited(second)).toBe(0);

    const all = readTicks(ticks);
    const status = await statusJson();
    expect(status.units.map((u) => [u.id, u.state])).toEqual(
      ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c/1'].map((id) => [id, 'completed']),
    );
    // No recorded completion is executed again.
    for (const id of completedInRun1) {
      expect(all.filter((t) => t.unit === id && t.event === 'start')).toHaveLength(1);
    }
    // Turns in flight survived the crash and were adopted by the second run: each unit was
    // executed exactly once, the in-flight ones in their original processes.
    for (const id of ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c/1']) {
      expect(all.filter((t) => t.unit === id && t.event === 'start'), id).toHaveLength(1);
      expect(all.filter((t) => t.unit === id && t.event === 'end'), id).toHaveLength(1);
    }
    for (const id of ['a/2', 'b/1']) {
      expect(new Set(all.filter((t) => t.unit === id).map((t) => t.run)), id).toEqual(new Set(['1']));
    }
    expect(all.filter((t) => t.run === '2').length).toBeGreaterThan(0);
    // Never two executions of one unit at the same time.
    expect(overlaps(all)).toEqual([]);
    // No process of the first run is left alive.
    for (const pid of run1Pids) expect(isProcessAlive(pid, null)).toBe(false);
    // The adopted turns completed their dispatches; nothing failed.
    expect(status.dispatches.map((d) => d.state)).toEqual(status.dispatches.map(() => 'completed'));
  });
});

async function statusJson(): Promise<{
  units: { id: string; state: string; attempts: number }[];
  dispatches: { unitId: string; state: string; reason: string | null }[];
}> {
  const child = spawn(process.execPath, [CLI_PATH, 'status', '--json', '--store', 'state/statecrew.db'], { cwd: dir });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  expect(await exited(child)).toBe(0);
  return JSON.parse(out) as never;
}
