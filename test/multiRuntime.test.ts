import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isProcessAlive } from '../actors/processes.js';
import { openStoreAt } from '../persistence/openStore.js';
import { tempDir } from './helpers/tempStore.js';
import { collectStdout, exitOf, expectSharedOnce, overlaps, readTicks, startStatecrew, tickUnit, whenTicks } from './helpers/ticks.js';

let dir: string;
let cleanup: () => void;
let ticks: string;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-multi-'));
  ticks = path.join(dir, 'ticks.jsonl');
});

afterEach(() => cleanup());

/** Four independent milestones of three units each, `ms` per unit. */
function writePlan(ms: number, workers = 2): string[] {
  const units: string[] = [];
  const lines = ['version: 1', `workers: ${workers}`, 'store: state/statecrew.db', 'defaults: { retryBackoff: 100ms }', 'milestones:'];
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
  const store = openStoreAt(path.join(dir, 'state', 'statecrew.db'), { readonly: true });
  try {
    return { runtimes: await store.listRuntimes(), dispatches: await store.listDispatches(), leases: await store.listLeases() };
  } finally {
    await store.close();
  }
}

describe('two statecrew runs on one store', () => {
  it('share the work: each unit runs once, never twice at a time, and both exit 0', async () => {
    const units = writePlan(300, 1);
    const first = startStatecrew(dir, 'A', ['run', 'plan.yaml']);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'start'));
    const second = startStatecrew(dir, 'B', ['run', 'plan.yaml']);
    expect(await exitOf(first)).toBe(0);
    expect(await exitOf(second)).toBe(0);

    expectSharedOnce(readTicks(ticks), units, ['A', 'B'], expect);
    const view = await storeView();
    expect(view.runtimes.map((r) => r.state)).toEqual(['stopped', 'stopped']);
    expect(view.dispatches.every((d) => d.state === 'completed')).toBe(true);
  });

  it('in PID namespaces of their own (two containers sharing a volume): neither takes the other for dead; each unit runs once; both exit 0', async () => {
    // Each run's pids mean nothing to the other: before host identities, each took the other
    // for dead (its pid not in its own /proc) and took its actors over, again and again.
    const units = writePlan(300, 2);
    const namespace = ['unshare', '--pid', '--fork', '--mount-proc', '--kill-child'];
    const first = startStatecrew(dir, 'A', ['run', 'plan.yaml'], 'pipe', namespace);
    const firstOut = collectStdout(first);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'start'));
    const second = startStatecrew(dir, 'B', ['run', 'plan.yaml'], 'pipe', namespace);
    const secondOut = collectStdout(second);
    expect(await exitOf(first), firstOut()).toBe(0);
    expect(await exitOf(second), secondOut()).toBe(0);

    expectSharedOnce(readTicks(ticks), units, ['A', 'B'], expect);
    expect(firstOut() + secondOut()).not.toMatch(/took over|SIGTERM/);
    const view = await storeView();
    expect(view.runtimes.map((r) => r.state)).toEqual(['stopped', 'stopped']);
    const [a, b] = view.runtimes.map((r) => r.hostId);
    expect(a).toMatch(/\/pid:\d+$/);
    expect(b).toMatch(/\/pid:\d+$/);
    expect(a).not.toBe(b);
    expect(view.dispatches.map((d) => `${d.unitId} ${d.state} attempt ${d.attempt}`).sort()).toEqual(units.map((unit) => `${unit} completed attempt 1`).sort());
    expect(new Set(view.dispatches.map((d) => d.hostId))).toEqual(new Set([a, b]));
  });

  it('takes over a runtime stopped (SIGSTOP) past its heartbeat TTL; resumed, it notices, stops driving and rejoins', async () => {
    const units = writePlan(700, 1);
    const args = ['run', 'plan.yaml', '--heartbeat-ttl', '600ms'];
    const paused = startStatecrew(dir, 'A', args, 'pipe');
    const pausedOut = collectStdout(paused);
    await whenTicks(ticks, (all) => all.some((t) => t.event === 'tick'));
    paused.kill('SIGSTOP');
    const pausedAt = Date.now();
    const taker = startStatecrew(dir, 'B', args, 'pipe');
    const takerOut = collectStdout(taker);
    // The taker adopts or retries A's turn; wait until B itself has run something.
    await whenTicks(ticks, (all) => all.some((t) => t.run === 'B' && t.event === 'end'));
    expect(Date.now() - pausedAt).toBeGreaterThanOrEqual(600);
    paused.kill('SIGCONT');

    expect(await exitOf(taker)).toBe(0);
    expect(await exitOf(paused)).toBe(0);
    expect(takerOut()).toMatch(/took over runtime-1/);
    expect(pausedOut()).toMatch(/runtime runtime-1 was taken over by another runtime .*; rejoining/);

    const all = readTicks(ticks);
    expect(overlaps(all)).toEqual([]);
    for (const unit of units) expect(all.filter((t) => t.unit === unit && t.event === 'end'), unit).toHaveLength(1);
    const view = await storeView();
    expect(view.runtimes.find((r) => r.id === 'runtime-1')).toMatchObject({ state: 'dead' });
    expect(view.runtimes.filter((r) => r.id !== 'runtime-1').map((r) => r.state)).toEqual(['stopped', 'stopped']);
    for (const pid of new Set(all.map((t) => t.pid))) expect(isProcessAlive(pid, null)).toBe(false);
  });
});
