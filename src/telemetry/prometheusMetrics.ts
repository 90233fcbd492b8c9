import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { RuntimeStoppedError } from '../../core/errors.js';
import type { Runtime } from '../runtime.js';
import { TURN_SECONDS_BUCKETS } from './storeMetrics.js';

/** A runtime's metrics in a prom-client registry, kept up to date from its events. */
export interface RuntimeMetrics {
  /** The registry (`await registry.metrics()` is the Prometheus text format, version 0.0.4). */
  readonly registry: Registry;
  /** Stops following the runtime's events (the metrics keep their values). */
  close(): void;
}


/**
 * Follows `runtime.events` into Prometheus metrics (prom-client), registered in `registry`:
 *
 * - `statecrew_units_total{outcome}`: units that ended `completed`, `failed` (out of attempts),
 *   `stuck` or `canceled`, as this runtime saw them;
 * - `statecrew_turn_failures_total`: failed turns, retried or not;
 * - `statecrew_turn_duration_seconds`: completed turns, start to end (histogram);
 * - `statecrew_workers_active`: this runtime's live workers at scrape time;
 * - `statecrew_lease_takeovers_total`: other runtimes' actors taken over by this one (one per takeover);
 * - `statecrew_leases_lost_total{state}`: milestone leases this runtime lost (`lost`) or let expire (`expired`);
 * - `statecrew_store_waits_total{operation}`: store calls retried after a transient fault;
 * - `statecrew_store_commit_seconds`: the store's commit of each job of transitions (histogram);
 * - `statecrew_units_waiting`: units pending (waiting to run) at scrape time.
 *
 * @param registry where to register; @default a new one. Registering twice in one registry throws
 *   prom-client's error (a metric name can be registered once per registry).
 */
export function collectRuntimeMetrics(runtime: Pick<Runtime, 'events' | 'actors' | 'progress'>, registry: Registry = new Registry()): RuntimeMetrics {
  const units = new Counter({ name: 'statecrew_units_total', help: 'Units that ended, by outcome.', labelNames: ['outcome'] as const, registers: [registry] });
  const failures = new Counter({ name: 'statecrew_turn_failures_total', help: 'Failed turns, retried or not.', registers: [registry] });
  const durations = new Histogram({ name: 'statecrew_turn_duration_seconds', help: 'Completed turns, from start to end.', buckets: TURN_SECONDS_BUCKETS, registers: [registry] });
  new Gauge({
    name: 'statecrew_workers_active',
    help: 'Live workers of this runtime.',
    registers: [registry],
    collect() {
      this.set(runtime.actors().filter((actor) => actor.kind === 'worker').length);
    },
  });
  const takeovers = new Counter({ name: 'statecrew_lease_takeovers_total', help: 'Dead runtimes whose actors this runtime took over.', registers: [registry] });
  const lost = new Counter({ name: 'statecrew_leases_lost_total', help: 'Milestone leases lost or expired, by state.', labelNames: ['state'] as const, registers: [registry] });
  const commits = new Histogram({
    name: 'statecrew_store_commit_seconds',
    help: 'Store commits of one job of transitions.',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'statecrew_units_waiting',
    help: 'Units pending (waiting to run) at scrape time.',
    registers: [registry],
    async collect() {
      // Before `start` there is nothing to count; any other failure fails the scrape.
      const progress = await runtime.progress().catch((error: unknown) => {
        if (error instanceof RuntimeStoppedError) return undefined;
        throw error;
      });
      this.set(progress === undefined ? 0 : [...progress.units.values()].filter((unit) => unit.state === 'pending').length);
    },
  });
  const waits = new Counter({ name: 'statecrew_store_waits_total', help: 'Store calls retried after a transient fault, by operation.', labelNames: ['operation'] as const, registers: [registry] });

  const handlers = {
    'unit.completed': (e: { durationMs: number | null }) => {
      units.inc({ outcome: 'completed' });
      if (e.durationMs !== null) durations.observe(e.durationMs / 1000);
    },
    'unit.failed': (e: { retryInMs: number | null }) => {
      failures.inc();
      if (e.retryInMs === null) units.inc({ outcome: 'failed' });
    },
    'unit.stuck': () => units.inc({ outcome: 'stuck' }),
    'unit.canceled': () => units.inc({ outcome: 'canceled' }),
    'runtime.took-over': () => takeovers.inc(),
    'lease.lost': (e: { state: string }) => lost.inc({ state: e.state }),
    'runtime.store-waiting': (e: { operation: string }) => waits.inc({ operation: e.operation }),
    'job.committed': (e: { durationMs: number }) => commits.observe(e.durationMs / 1000),
  } as const;
  for (const [name, handler] of Object.entries(handlers)) runtime.events.on(name as keyof typeof handlers, handler as never);
  return {
    registry,
    close: () => {
      for (const [name, handler] of Object.entries(handlers)) runtime.events.off(name as keyof typeof handlers, handler as never);
    },
  };
}
