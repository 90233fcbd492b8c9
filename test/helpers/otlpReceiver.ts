import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A span as the receiver decoded it from OTLP/HTTP JSON (ids hex, attributes flattened). */
export interface ReceivedSpan {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  /** The resource's attributes (`service.name`, …). */
  readonly resource: Readonly<Record<string, string | number | boolean>>;
}

type OtlpValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };
type OtlpAttribute = { key: string; value: OtlpValue };

function flatten(attributes: readonly OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of attributes ?? []) {
    out[key] = value.stringValue ?? (value.intValue !== undefined ? Number(value.intValue) : undefined) ?? value.doubleValue ?? value.boolValue ?? '';
  }
  return out;
}

/**
 * A small OTLP/HTTP receiver on 127.0.0.1 (JSON encoding, the OpenTelemetry protocol's
 * `/v1/traces` and `/v1/metrics`): decodes what arrives into spans and metric names.
 */
export async function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const metricNames = new Set<string>();
  const metricPoints: { name: string; attributes: Record<string, string | number | boolean>; value: number }[] = [];
  let waiters: { match: () => boolean; resolve: () => void }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as {
        resourceSpans?: { resource?: { attributes?: OtlpAttribute[] }; scopeSpans?: { spans?: { name: string; traceId: string; spanId: string; parentSpanId?: string; attributes?: OtlpAttribute[] }[] }[] }[];
        resourceMetrics?: { scopeMetrics?: { metrics?: { name: string; sum?: { dataPoints?: { asInt?: string | number; asDouble?: number; attributes?: OtlpAttribute[] }[] } }[] }[] }[];
      };
      if (request.url === '/v1/traces') {
        for (const resourceSpans of body.resourceSpans ?? []) {
          const resource = flatten(resourceSpans.resource?.attributes);
          for (const scope of resourceSpans.scopeSpans ?? []) {
            for (const span of scope.spans ?? []) {
              spans.push({ name: span.name, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? '', attributes: flatten(span.attributes), resource });
            }
          }
        }
      } else if (request.url === '/v1/metrics') {
        for (const resourceMetrics of body.resourceMetrics ?? []) {
          for (const scope of resourceMetrics.scopeMetrics ?? []) {
            for (const metric of scope.metrics ?? []) {
              metricNames.add(metric.name);
              for (const point of metric.sum?.dataPoints ?? []) metricPoints.push({ name: metric.name, attributes: flatten(point.attributes), value: Number(point.asInt ?? point.asDouble ?? 0) });
            }
          }
        }
      }
      response.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      waiters = waiters.filter((waiter) => {
        if (!waiter.match()) return true;
        waiter.resolve();
        return false;
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    metricNames,
    metricPoints,
    /** Resolves once `match()` holds (checked after every request). */
    until(match: () => boolean): Promise<void> {
      if (match()) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
