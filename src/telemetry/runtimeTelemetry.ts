import { context, metrics, SpanStatusCode, trace, type Attributes, type Span, type SpanContext } from '@opentelemetry/api';
import type { Emitter } from 'mitt';
import type { Clock } from '../../core/clock.js';
import { ensureError } from '../../core/errors.js';
import type { TraceContexts } from '../../persistence/store.js';
import type { DispatchProjection } from '../../persistence/types.js';
import type { RuntimeEvents } from '../events.js';
import type { Plan } from '../plan/types.js';
import { fromTraceparent, toTraceparent } from './traceparent.js';

/** The instrumentation scope of statecrew's spans and metrics. */
export const INSTRUMENTATION_SCOPE = 'statecrew';

/** Buckets of the turn duration histogram, in seconds: a second to two hours. */
const TURN_SECONDS = [1, 5, 15, 30, 60, 120, 300, 600, 1_800, 3_600, 7_200];
/** Buckets of the store commit latency histogram, in ms. */
const COMMIT_MS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1_000, 5_000];

/** What {@link RuntimeTelemetry} reads from the runtime. */
export interface RuntimeTelemetryOptions {
  readonly events: Emitter<RuntimeEvents>;
  readonly runtimeId: string;
  readonly plan: () => Plan | undefined;
  /** The store's trace contexts, through the runtime's store policy. */
  readonly store: TraceContexts;
  readonly clock: Clock;
  /** A dispatch's row (committed or staged), for a turn's times, token and figures. */
  readonly dispatch: (unitId: string, dispatchId: string) => DispatchProjection | undefined;
  /** Live workers and units waiting to run, read when metrics are collected. */
  readonly gauges: () => { readonly activeWorkers: number; readonly waitingUnits: number };
  /** Runs a store call nobody awaits, its failure routed to the runtime's failure path. */
  readonly background: (operation: string, call: Promise<unknown>) => void;
}

/**
 * A runtime's OpenTelemetry signals, through `@opentelemetry/api` only: without an SDK installed
 * by the host (or `statecrew run --otel`) every call is the API's no-op, and nothing is read from
 * the store.
 *
 * Spans: `statecrew.run` (this runtime, from start to `run.finished`); `statecrew.milestone`
 * (running to completed or failed) under it; `statecrew.unit` when a unit first starts, and
 * `statecrew.turn` for every turn, a child of its unit's span, with the recorded start and end
 * times. A unit's trace context is kept in the store (`TraceContexts`, the first writer's):
 * a turn that ends under another runtime — adopted after a crash, on another host — is a span
 * of the same trace. Turn attributes: unit, dispatch, attempt, worker, fencing token, exit code,
 * cost (USD), tokens, reason.
 *
 * Metrics: `statecrew.units` (counter, by `outcome`), `statecrew.turn.duration` (histogram, s),
 * `statecrew.workers.active` and `statecrew.units.waiting` (gauges), `statecrew.lease.takeovers`
 * (counter), `statecrew.store.commit.duration` (histogram, ms, per job).
 */
export class RuntimeTelemetry {
  private readonly tracer = trace.getTracer(INSTRUMENTATION_SCOPE);
  private readonly runSpan: Span;
  private readonly milestones = new Map<string, Span>();
  /** Unit id → its trace context (read from or written to the store once per unit). */
  private readonly units = new Map<string, Promise<SpanContext | undefined>>();
  private readonly detach: () => void;

  constructor(private readonly options: RuntimeTelemetryOptions) {
    const plan = options.plan();
    this.runSpan = this.tracer.startSpan('statecrew.run', {
      startTime: options.clock.now(),
      attributes: { 'statecrew.runtime.id': options.runtimeId, 'statecrew.plan.file': plan?.file ?? '', 'statecrew.plan.units': plan?.milestones.reduce((n, m) => n + m.units.length, 0) ?? 0 },
    });
    const meter = metrics.getMeter(INSTRUMENTATION_SCOPE);
    const units = meter.createCounter('statecrew.units', { description: 'Units that ended, by outcome (completed, failed, stuck, canceled).', unit: '{unit}' });
    const turnDuration = meter.createHistogram('statecrew.turn.duration', { description: 'Turns, from start to end.', unit: 's', advice: { explicitBucketBoundaries: TURN_SECONDS } });
    const takeovers = meter.createCounter('statecrew.lease.takeovers', { description: 'Dead runtimes whose actors this runtime took over.', unit: '{takeover}' });
    const commits = meter.createHistogram('statecrew.store.commit.duration', { description: 'Store commits of one job of transitions.', unit: 'ms', advice: { explicitBucketBoundaries: COMMIT_MS } });
    const workers = meter.createObservableGauge('statecrew.workers.active', { description: 'Live workers of this runtime.', unit: '{worker}' });
    const waiting = meter.createObservableGauge('statecrew.units.waiting', { description: 'Units waiting to run (pending).', unit: '{unit}' });
    const observe = (result: { observe(value: number): void }, pick: 'activeWorkers' | 'waitingUnits') => result.observe(options.gauges()[pick]);
    const onWorkers = (result: { observe(value: number): void }) => observe(result, 'activeWorkers');
    const onWaiting = (result: { observe(value: number): void }) => observe(result, 'waitingUnits');
    workers.addCallback(onWorkers);
    waiting.addCallback(onWaiting);

    const handlers: { [K in keyof RuntimeEvents]?: (event: RuntimeEvents[K]) => void } = {
      'milestone.state': (e) => this.milestone(e.milestoneId, e.state),
      'unit.started': (e) => void this.unitContext(e.unitId),
      'unit.completed': (e) => {
        units.add(1, { outcome: 'completed' });
        this.turn(e.unitId, e.dispatchId, null, (seconds) => turnDuration.record(seconds, { outcome: 'completed' }));
      },
      'unit.failed': (e) => {
        if (e.retryInMs === null) units.add(1, { outcome: 'failed' });
        this.turn(e.unitId, e.dispatchId, e.reason, (seconds) => turnDuration.record(seconds, { outcome: 'failed' }));
      },
      'unit.stuck': () => units.add(1, { outcome: 'stuck' }),
      'unit.canceled': (e) => {
        units.add(1, { outcome: 'canceled' });
        this.turn(e.unitId, e.dispatchId, e.reason, () => undefined);
      },
      'runtime.took-over': () => takeovers.add(1),
      'job.committed': (e) => commits.record(e.durationMs),
      'run.finished': (e) => this.finish(e.exitCode, e.reason),
    };
    for (const [name, handler] of Object.entries(handlers)) options.events.on(name as keyof RuntimeEvents, handler as never);
    this.detach = () => {
      for (const [name, handler] of Object.entries(handlers)) options.events.off(name as keyof RuntimeEvents, handler as never);
      workers.removeCallback(onWorkers);
      waiting.removeCallback(onWaiting);
    };
  }

  /** Whether an SDK records spans (otherwise nothing is read from or written to the store). */
  private get recording(): boolean {
    return this.runSpan.isRecording();
  }

  private milestone(id: string, state: string): void {
    const open = this.milestones.get(id);
    if (state === 'running' && open === undefined) {
      const parent = trace.setSpan(context.active(), this.runSpan);
      this.milestones.set(id, this.tracer.startSpan('statecrew.milestone', { startTime: this.options.clock.now(), attributes: { 'statecrew.milestone.id': id } }, parent));
      return;
    }
    if (open === undefined || state === 'running' || state === 'pending') return;
    open.setAttribute('statecrew.milestone.state', state);
    if (state !== 'completed') open.setStatus({ code: SpanStatusCode.ERROR, message: `milestone ${state}` });
    open.end(this.options.clock.now());
    this.milestones.delete(id);
  }

  /**
   * The unit's trace context: the one kept in the store, or — at its first start anywhere — a
   * new `statecrew.unit` span's (under its milestone's span), kept for every later turn.
   */
  private unitContext(unitId: string): Promise<SpanContext | undefined> {
    let known = this.units.get(unitId);
    if (known !== undefined || !this.recording) return known ?? Promise.resolve(undefined);
    const subject = `unit:${unitId}`;
    known = this.options.store.loadTraceContext(subject).then(async (kept) => {
      const found = kept === undefined ? undefined : fromTraceparent(kept);
      if (found !== undefined) return found;
      const milestoneId = this.options.plan()?.milestones.find((m) => m.units.some((u) => u.id === unitId))?.id;
      const parent = trace.setSpan(context.active(), (milestoneId === undefined ? undefined : this.milestones.get(milestoneId)) ?? this.runSpan);
      const span = this.tracer.startSpan('statecrew.unit', { startTime: this.options.clock.now(), attributes: { 'statecrew.unit.id': unitId, 'statecrew.milestone.id': milestoneId ?? '' } }, parent);
      span.end();
      const winner = await this.options.store.saveTraceContext(subject, toTraceparent(span.spanContext()), this.options.clock.now());
      return fromTraceparent(winner);
    });
    // A store failure goes to the runtime's failure path; the unit's turns then have no parent.
    const guarded = known.catch((error: unknown) => {
      this.options.background('trace context', Promise.reject(ensureError(error)));
      return undefined;
    });
    this.units.set(unitId, guarded);
    return guarded;
  }

  /** A turn ended: its span, with the recorded times, under its unit's trace. */
  private turn(unitId: string, dispatchId: string, reason: string | null, recordDuration: (seconds: number) => void): void {
    const row = this.options.dispatch(unitId, dispatchId);
    if (row?.startedAt != null && row.endedAt !== null) recordDuration((row.endedAt - row.startedAt) / 1000);
    if (!this.recording || row === undefined) return;
    void this.unitContext(unitId).then((unit) => {
      const parent = unit === undefined ? trace.setSpan(context.active(), this.runSpan) : trace.setSpanContext(context.active(), unit);
      const attributes: Attributes = {
        'statecrew.unit.id': unitId,
        'statecrew.dispatch.id': dispatchId,
        'statecrew.attempt': row.attempt,
        'statecrew.turn.state': row.state,
        'statecrew.runtime.id': this.options.runtimeId,
      };
      const optional: Record<string, string | number | null> = {
        'statecrew.worker.id': row.workerId,
        'statecrew.fencing_token': row.fencingToken,
        'process.exit.code': row.exitCode,
        'statecrew.cost_usd': row.costUsd,
        'gen_ai.usage.input_tokens': row.inputTokens,
        'gen_ai.usage.output_tokens': row.outputTokens,
        'statecrew.reason': reason ?? row.reason,
      };
      for (const [key, value] of Object.entries(optional)) if (value !== null) attributes[key] = value;
      const span = this.tracer.startSpan('statecrew.turn', { startTime: row.startedAt ?? row.endedAt ?? this.options.clock.now(), attributes }, parent);
      if (row.state !== 'completed') span.setStatus({ code: SpanStatusCode.ERROR, message: reason ?? row.reason ?? row.state });
      span.end(row.endedAt ?? this.options.clock.now());
    });
  }

  private finish(exitCode: number, reason: string): void {
    for (const [id, span] of this.milestones) {
      span.setAttribute('statecrew.milestone.state', 'unfinished');
      span.end(this.options.clock.now());
      this.milestones.delete(id);
    }
    this.runSpan.setAttributes({ 'statecrew.exit_code': exitCode, 'statecrew.reason': reason });
    if (exitCode !== 0) this.runSpan.setStatus({ code: SpanStatusCode.ERROR, message: reason });
    this.runSpan.end(this.options.clock.now());
    this.detach();
  }
}
