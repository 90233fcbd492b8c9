import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixture, killRunningClis, makeTempDir, startCli, writePlan } from './helpers/cli.js';
import { startOtlpReceiver } from './helpers/otlpReceiver.js';

/**
 * `statecrew run --otel` exporting over OTLP/HTTP to a receiver on 127.0.0.1 that decodes what
 * arrives; across a SIGKILL of the runtime, the adopted turn's span joins its unit's trace.
 */

let dir: string;
const saved = { ...process.env };

beforeEach(() => {
  dir = makeTempDir();
});

afterEach(async () => {
  await killRunningClis();
  process.env = { ...saved };
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('statecrew run --otel', () => {
  it('exports spans and metrics over OTLP/HTTP; a turn adopted after a crash is a span of its unit\'s trace', async () => {
    const receiver = await startOtlpReceiver();
    try {
      // startCli passes its own environment on: the OTLP variables, as an operator would set them.
      Object.assign(process.env, {
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_SERVICE_NAME: 'statecrew-test',
        OTEL_BSP_SCHEDULE_DELAY: '50',
        OTEL_METRIC_EXPORT_INTERVAL: '200',
      });
      const go = path.join(dir, 'go');
      writePlan(dir, { version: 1, workers: 1, milestones: [{ id: 'm', units: [{ id: 'm/u', command: [process.execPath, fixture('exit-when-file.mjs'), go, '0'] }] }] });
      const first = startCli(dir, ['run', 'plan.yaml', '--otel', '--heartbeat-ttl', '1s']);
      await first.waitForLine(/start +m\/u attempt 1 on worker-1/);
      await receiver.until(() => receiver.spans.some((s) => s.name === 'statecrew.unit'));
      first.kill('SIGKILL');
      expect((await first.done).signal).toBe('SIGKILL');
      const unit = receiver.spans.find((s) => s.name === 'statecrew.unit');
      expect(unit?.attributes).toMatchObject({ 'statecrew.unit.id': 'm/u' });
      expect(unit?.resource['service.name']).toBe('statecrew-test');

      // The next run adopts the turn (still running under its shim); it ends under runtime-2.
      const second = startCli(dir, ['run', 'plan.yaml', '--otel', '--heartbeat-ttl', '1s']);
      await second.waitForLine(/adopted|restored|took over/i);
      fs.writeFileSync(go, '');
      expect((await second.done).code).toBe(0);

      const turn = receiver.spans.find((s) => s.name === 'statecrew.turn');
      expect(turn?.attributes).toMatchObject({ 'statecrew.unit.id': 'm/u', 'statecrew.dispatch.id': 'm/u#1', 'statecrew.runtime.id': 'runtime-2', 'statecrew.fencing_token': 1, 'process.exit.code': 0 });
      expect(turn?.traceId).toBe(unit?.traceId);
      expect(turn?.parentSpanId).toBe(unit?.spanId);
      const runs = receiver.spans.filter((s) => s.name === 'statecrew.run').map((s) => [s.attributes['statecrew.runtime.id'], s.attributes['statecrew.exit_code']]);
      expect(runs).toEqual([['runtime-2', 0]]);
      expect(receiver.metricNames).toContain('statecrew.units');
      expect(receiver.metricPoints.filter((p) => p.name === 'statecrew.units').at(-1)).toMatchObject({ attributes: { outcome: 'completed' }, value: 1 });
    } finally {
      await receiver.close();
    }
  });
});
