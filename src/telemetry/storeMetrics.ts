import { Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../../persistence/store.js';
import type { RuntimeRecord } from '../../persistence/types.js';
import type { UnitState } from '../progress.js';
import { readStatus, type StatusReport } from '../status.js';

/** Bucket bounds of the turn duration histogram, in seconds: 100 ms to 2 h. */
export const TURN_SECONDS_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200];

/**
 * A fleet's metrics read from its store at each scrape, for any process that can open the store
 * (the inspector's `/metrics`), whichever runtimes wrote it:
 *
 * - `statecrew_units{state}`: units by derived state (`pending`, `running`, `completed`,
 *   `failed`, `stuck`, `canceled`, `blocked`); 0 for a state no unit is in;
 * - `statecrew_dispatches{state}`: dispatch rows by state;
 * - `statecrew_workers{state}`: worker rows by state;
 * - `statecrew_runtimes{state}`: registered runtimes by state;
 * - `statecrew_turn_duration_seconds`: every ended turn's start to end, recomputed from the rows.
 *
 * One scrape reads the status report (`readStatus`) and the runtime list once. A store error
 * rejects the scrape (prom-client's `registry.metrics()` rejects with it).
 */
export function storeMetricsRegistry(store: Store): Registry {
  const registry = new Registry();
  // One read per scrape, shared by the metrics (prom-client collects them all at once).
  let reading: Promise<Snapshot> | null = null;
  const read = (): Promise<Snapshot> =>
    (reading ??= Promise.all([readStatus(store), store.listRuntimes()])
      .then(([status, registered]) => ({ status, registered }))
      .finally(() => setImmediate(() => (reading = null))));
  const countBy = (gauge: Gauge<'state'>, states: readonly string[], always: readonly string[] = []): void => {
    gauge.reset();
    for (const state of always) gauge.set({ state }, 0);
    for (const state of states) gauge.inc({ state });
  };
  const byState = (name: string, help: string, states: (snapshot: Snapshot) => readonly string[], always: readonly string[] = []) =>
    new Gauge({
      name,
      help,
      labelNames: ['state'] as const,
      registers: [registry],
      async collect() {
        countBy(this, states(await read()), always);
      },
    });
  byState('statecrew_units', 'Units by state.', (s) => s.status.units.map((u) => u.state), UNIT_STATES);
  byState('statecrew_dispatches', 'Dispatches by state.', (s) => s.status.dispatches.map((d) => d.state));
  byState('statecrew_workers', 'Workers by state.', (s) => s.status.workers.map((w) => w.state));
  byState('statecrew_runtimes', 'Registered runtimes by state.', (s) => s.registered.map((r) => r.state));
  new Histogram({
    name: 'statecrew_turn_duration_seconds',
    help: 'Ended turns, from start to end.',
    buckets: TURN_SECONDS_BUCKETS,
    registers: [registry],
    async collect() {
      const { status } = await read();
      this.reset();
      for (const d of status.dispatches) {
        if (d.startedAt !== null && d.endedAt !== null) this.observe((Date.parse(d.endedAt) - Date.parse(d.startedAt)) / 1000);
      }
    },
  });
  return registry;
}

/** What one scrape reads. */
interface Snapshot {
  readonly status: StatusReport;
  readonly registered: readonly RuntimeRecord[];
}

/** Every unit state, reported even when no unit is in it. */
const UNIT_STATES: readonly UnitState[] = ['pending', 'running', 'completed', 'failed', 'stuck', 'canceled', 'blocked'];
