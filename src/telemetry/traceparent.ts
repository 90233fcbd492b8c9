import { TraceFlags, type SpanContext } from '@opentelemetry/api';

/** A span context as a W3C Trace Context `traceparent` header value (version 00). */
export function toTraceparent(context: SpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * Reads a `traceparent` (W3C Trace Context, version 00) as a remote span context.
 * @returns `undefined` when the text is not one, or names the all-zero (invalid) trace or span.
 */
export function fromTraceparent(text: string): SpanContext | undefined {
  const match = TRACEPARENT.exec(text);
  if (match === null) return undefined;
  const [, traceId = '', spanId = '', flags = '00'] = match;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
}
