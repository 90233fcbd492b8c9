import path from 'node:path';
import { metrics, trace } from '@opentelemetry/api';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { tempDir } from './helpers/tempStore.js';

/**
 * OpenTelemetry through the SDK's in-memory exporters, installed as a host would install its
 * SDK (global providers): the runtime's spans — run, milestones, units, turns — with their
 * attributes and parents, and its metrics.
 */

const spans = new InMemorySpanExporter();
const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
const meterProvider = new MeterProvider({ readers: [reader] });

beforeAll(() => {
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
});

afterAll(async () => {
  await tracerProvider.shutdown();
  await meterProvider.shutdown();
  trace.disable();
  metrics.disable();
});

const named = (name: string) => spans.getFinishedSpans().filter((span) => span.name === name);
const attr = (span: ReadableSpan | undefined, key: string) => span?.attributes[key];

function metric(all: ResourceMetrics[], name: string) {
  return all.flatMap((r) => r.scopeMetrics.flatMap((s) => s.metrics)).filter((m) => m.descriptor.name === name).at(-1);
}

describe('OpenTelemetry', () => {
  it('traces a run, its milestones, each unit and each turn with its figures, and counts units, turns, workers and commits', async () => {
    const { dir, cleanup } = tempDir('statecrew-otel-');
    try {
      const node = JSON.stringify(process.execPath);
      const plan = parsePlan(
        [
          'version: 1',
          'workers: 2',
          'milestones:',
          '  - id: a',
          `    units: [{ id: a/ok, command: [${node}, -e, "process.exit(0)"] }, { id: a/flaky, command: [${node}, -e, "process.exit(2)"], maxAttempts: 2, retryBackoff: 10ms }]`,
          '  - id: b',
          '    dependsOn: [a]',
          `    units: [{ id: b/never, command: [${node}, -e, ""] }]`,
        ].join('\n'),
        { file: path.join(dir, 'plan.yaml'), cwd: dir },
      );
      const runtime = createRuntime({ store: path.join(dir, 's.db') });
      // The gauges are read while the run goes (they stop with it): export once a turn runs.
      const midRun: Promise<void>[] = [];
      runtime.events.on('unit.started', () => {
        if (midRun.length === 0) midRun.push(reader.forceFlush());
      });
      await runtime.start(plan);
      expect((await runtime.finished).exitCode).toBe(1);
      await tracerProvider.forceFlush();

      const [run] = named('statecrew.run');
      expect(run?.attributes).toMatchObject({ 'statecrew.runtime.id': 'runtime-1', 'statecrew.plan.units': 3, 'statecrew.exit_code': 1 });
      expect(run?.status.code).toBe(2);
      const milestones = named('statecrew.milestone');
      expect(milestones.map((m) => [attr(m, 'statecrew.milestone.id'), attr(m, 'statecrew.milestone.state')])).toEqual([['a', 'failed']]);
      expect(milestones[0]?.parentSpanContext?.spanId).toBe(run?.spanContext().spanId);

      // One unit span per unit that ran; every turn is its child, in its trace, with the recorded figures.
      const units = new Map(named('statecrew.unit').map((u) => [attr(u, 'statecrew.unit.id'), u]));
      expect([...units.keys()].sort()).toEqual(['a/flaky', 'a/ok']);
      const turns = named('statecrew.turn');
      expect(turns.map((t) => attr(t, 'statecrew.dispatch.id')).sort()).toEqual(['a/flaky#1', 'a/flaky#2', 'a/ok#1']);
      for (const turn of turns) {
        const unit = units.get(attr(turn, 'statecrew.unit.id'));
        expect(turn.spanContext().traceId).toBe(unit?.spanContext().traceId);
        expect(turn.parentSpanContext?.spanId).toBe(unit?.spanContext().spanId);
        expect(turn.attributes).toMatchObject({ 'statecrew.worker.id': expect.stringMatching(/^worker-/) as unknown, 'statecrew.fencing_token': 1 });
      }
      const flaky2 = turns.find((t) => attr(t, 'statecrew.dispatch.id') === 'a/flaky#2');
      expect(flaky2?.attributes).toMatchObject({ 'statecrew.attempt': 2, 'process.exit.code': 2, 'statecrew.turn.state': 'failed' });
      expect(flaky2?.status).toMatchObject({ code: 2, message: expect.stringMatching(/exit code 2/) as unknown });
      const ok = turns.find((t) => attr(t, 'statecrew.dispatch.id') === 'a/ok#1');
      expect(ok?.status.code).toBe(0);
      // The turn's times are the recorded ones.
      const store = openStoreAt(path.join(dir, 's.db'), { readonly: true });
      const row = (await store.listDispatches('a/ok'))[0];
      await store.close();
      const ms = (time: [number, number] | undefined) => (time === undefined ? NaN : time[0] * 1000 + time[1] / 1e6);
      expect(Math.round(ms(ok?.startTime))).toBe(row?.startedAt);
      expect(Math.round(ms(ok?.endTime))).toBe(row?.endedAt);

      await Promise.all(midRun);
      await reader.forceFlush();
      const exported = metricExporter.getMetrics();
      const unitCounts = metric(exported, 'statecrew.units')?.dataPoints.map((p) => [p.attributes.outcome, p.value]);
      expect(unitCounts).toEqual(expect.arrayContaining([['completed', 1], ['failed', 1]]));
      const durations = metric(exported, 'statecrew.turn.duration');
      expect(durations?.descriptor.unit).toBe('s');
      expect(durations?.dataPoints.reduce((n, p) => n + (p.value as { count: number }).count, 0)).toBe(3);
      expect((metric(exported, 'statecrew.store.commit.duration')?.dataPoints[0]?.value as { count: number } | undefined)?.count).toBeGreaterThan(5);
      expect(metric(exported, 'statecrew.workers.active')?.dataPoints[0]?.value).toBeGreaterThan(0);
      expect(metric(exported, 'statecrew.units.waiting')?.dataPoints[0]?.value).toBeGreaterThanOrEqual(0);
    } finally {
      cleanup();
    }
  });
});
