/**
 * The trace context role: the W3C `traceparent` of each unit's trace (OpenTelemetry), kept so
 * that every turn of the unit — including one a runtime adopted after another crashed, on any
 * host — is a span of the same trace. Written once per unit; the first writer wins.
 */
export interface TraceContexts {
  /**
   * Keeps `traceparent` for `subject` (e.g. `unit:m/u`) unless one is kept already; resolves the
   * one kept (the caller's or the earlier one). `now` in ms since the Unix epoch.
   */
  saveTraceContext(subject: string, traceparent: string, now: number): Promise<string>;
  /** The `traceparent` kept for `subject`, `undefined` when none is. */
  loadTraceContext(subject: string): Promise<string | undefined>;
}
