/**
 * A runtime's Prometheus metrics (prom-client), followed from its events through a real run:
 * real child processes, a real SQLite store in a temp dir.
 */
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { collectRuntimeMetrics } from '../src/telemetry/prometheusMetrics.js';
import { fixture, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-metrics-'));
});
afterEach(() => cleanup());

const node = JSON.stringify(process.execPath);
const exitWith = JSON.stringify(fixture('exit-with.mjs'));

describe('Prometheus metrics of a runtime', () => {
  it('counts units by outcome and failed turns, and observes completed turns\' durations', async () => {
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    const metrics = collectRuntimeMetrics(runtime);
    const plan = parsePlan(
      [
        'version: 1',
        'workers: 2',
        'defaults: { retryBackoff: 10ms }',
        'milestones:',
        '  - id: ok',
        `    units: [{ id: ok/1, command: [${node}, ${exitWith}, "0"] }, { id: ok/2, command: [${node}, ${exitWith}, "0"] }]`,
        '  - id: bad',
        `    units: [{ id: bad/1, maxAttempts: 2, command: [${node}, ${exitWith}, "3", "nope"] }]`,
      ].join('\n'),
      { file: path.join(dir, 'plan.yaml'), cwd: dir },
    );
    // Waiting units are read from the runtime at scrape time: 3 before the first pass.
    await runtime.start(plan);
    expect(await metrics.registry.metrics()).toMatch(/^statecrew_units_waiting [0-3]$/m);
    const result = await runtime.finished;
    const text = await metrics.registry.metrics();
    await runtime.store.close();
    expect(result.exitCode).toBe(1);

    expect(text).toContain('statecrew_units_total{outcome="completed"} 2');
    expect(text).toContain('statecrew_units_total{outcome="failed"} 1');
    expect(text).toContain('statecrew_turn_failures_total 2');
    expect(text).toContain('statecrew_turn_duration_seconds_count 2');
    expect(text).toMatch(/^# TYPE statecrew_workers_active gauge$/m);
    expect(text).toContain('statecrew_units_waiting 0');
    expect(Number(/^statecrew_store_commit_seconds_count (\d+)$/m.exec(text)?.[1])).toBeGreaterThan(5);
    metrics.close();
  });
});
