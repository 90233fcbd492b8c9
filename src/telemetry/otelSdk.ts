import fs from 'node:fs';
import { metrics, trace } from '@opentelemetry/api';
import { UsageError } from '../../core/errors.js';

/** statecrew's version, from its package.json (found from this module in `src/` or `dist/src/`). */
export function packageVersion(): string {
  for (const relative of ['../../package.json', '../../../package.json']) {
    const file = new URL(relative, import.meta.url);
    if (!fs.existsSync(file)) continue;
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
    if (parsed.name === 'statecrew' && typeof parsed.version === 'string') return parsed.version;
  }
  return 'unknown';
}

/** A running OpenTelemetry SDK: flush and stop it before the process exits. */
export interface OtelSdk {
  /** Exports what is buffered (spans, a last metric reading) and stops the providers. */
  shutdown(): Promise<void>;
}

/** An `OTEL_*` variable as a whole number of ms, or `fallback` when unset. @throws UsageError naming the variable when it is not one. */
function envMs(name: string, fallback: number): number {
  const text = process.env[name];
  if (text === undefined || text === '') return fallback;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value <= 0) throw new UsageError(`${name} must be a positive whole number of milliseconds, got ${JSON.stringify(text)}`);
  return value;
}

/**
 * `statecrew run --otel`: installs the OpenTelemetry SDK as the global tracer and meter provider,
 * exporting over OTLP/HTTP (JSON) where the standard variables say: `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (default `http://localhost:4318`; `/v1/traces` and `/v1/metrics` are appended),
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`,
 * `OTEL_SERVICE_NAME` (default `statecrew`) and `OTEL_RESOURCE_ATTRIBUTES`; spans are batched
 * every `OTEL_BSP_SCHEDULE_DELAY` ms (default 5,000), metrics exported every
 * `OTEL_METRIC_EXPORT_INTERVAL` ms (default 60,000). The SDK is loaded only here: a runtime
 * without `--otel` uses `@opentelemetry/api` alone, whose calls are no-ops.
 * @throws UsageError when a timing variable is not a positive whole number.
 */
export async function startOtelSdk(version: string): Promise<OtelSdk> {
  const scheduledDelayMillis = envMs('OTEL_BSP_SCHEDULE_DELAY', 5_000);
  const exportIntervalMillis = envMs('OTEL_METRIC_EXPORT_INTERVAL', 60_000);
  const [{ TracerProvider, BatchSpanProcessor }, { MeterProvider, PeriodicExportingMetricReader }, { OTLPTraceExporter }, { OTLPMetricExporter }, resources] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/sdk-metrics'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/exporter-metrics-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': 'statecrew', 'service.version': version }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const tracerProvider = new TracerProvider({ resource, spanProcessors: [new BatchSpanProcessor({ exporter: new OTLPTraceExporter(), scheduledDelayMillis })] });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), exportIntervalMillis, exportTimeoutMillis: Math.min(30_000, exportIntervalMillis) })],
  });
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    shutdown: async () => {
      await Promise.all([tracerProvider.shutdown(), meterProvider.shutdown()]);
      trace.disable();
      metrics.disable();
    },
  };
}
