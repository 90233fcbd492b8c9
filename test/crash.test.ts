import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import { fixture, tempDir } from './helpers/tempStore.js';

interface Tick {
  unit: string;
  run: string;
  pid: number;
  event: 'start' | 'tick' | 'end';
  t: number;
}

const cli = path.resolve('bin/statecrew.js');
let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-crash-'));
});

afterEach(() => cleanup());

function startRun(run: string): ChildProcess {
  return spawn(process.execPath, [cli, 'run', 'plan.yaml'], { cwd: dir, env: { ...process.env, RUN: run }, stdio: 'ignore' });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal === null ? code : null)));
}

function readTicks(file: string): Tick[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Tick);
}

/** Resolves once `predicate` holds for the tick log (watched with fs.watch, not on a timer). */
function whenTicks(file: string, predicate: (ticks: Tick[]) => boolean): Promise<Tick[]> {
  fs.writeFileSync(file, '', { flag: 'a' });
  return new Promise((resolve) => {
    const check = () => {
      const ticks = readTicks(file);
      if (predicate(ticks)) {
        watcher.close();
        resolve(ticks);
      }
    };
    const watcher = fs.watch(file, check);
    check();
  });
}

describe('statecrew run after SIGKILL', () => {
  it('resumes: every unit completes, none runs again after completing, none runs twice at once, no orphan survives', async () => {
    const ticks = path.join(dir, 'ticks.jsonl');
    const unit = (id: string, ms: number) =>
      `      - { id: ${id}, command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('tick-logger.mjs'))}, ${JSON.stringify(ticks)}, "${ms}"] }`;
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
    // Units in flight were retried, and each unit completed exactly once.
    for (const id of ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'c/1']) {
      expect(all.filter((t) => t.unit === id && t.event === 'end')).toHaveLength(1);
    }
    expect(all.some((t) => t.unit === 'a/2' && t.run === '2')).toBe(true);
    // Never two executions of one unit at the same time.
    for (const id of ['a/2', 'b/1']) {
      const byPid = new Map<number, { from: number; to: number }>();
      for (const t of all.filter((entry) => entry.unit === id)) {
        const span = byPid.get(t.pid) ?? { from: t.t, to: t.t };
        byPid.set(t.pid, { from: Math.min(span.from, t.t), to: Math.max(span.to, t.t) });
      }
      const spans = [...byPid.values()].sort((x, y) => x.from - y.from);
      expect(spans.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < spans.length; i++) expect(spans[i]!.from).toBeGreaterThan(spans[i - 1]!.to);
    }
    // No process of the first run is left alive.
    for (const pid of run1Pids) expect(isProcessAlive(pid, null)).toBe(false);
    // The killed turns were recorded as lost and did not use up an attempt.
    const lost = status.dispatches.filter((d) => d.state === 'failed');
    expect(lost.map((d) => d.unitId).sort()).toEqual(['a/2', 'b/1']);
    for (const d of lost) expect(d.reason).toMatch(/runtime stopped while the turn ran/);
  });
});

async function statusJson(): Promise<{
  units: { id: string; state: string; attempts: number }[];
  dispatches: { unitId: string; state: string; reason: string | null }[];
}> {
  const child = spawn(process.execPath, [cli, 'status', '--json', '--store', 'state/statecrew.db'], { cwd: dir });
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  expect(await exited(child)).toBe(0);
  return JSON.parse(out) as never;
}
