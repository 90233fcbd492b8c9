// B1 and B2 of docs/benchmarks.md: worker-like actors advancing together, as a runtime's actors
// do in one scheduler pass. Each step sends one event to each of the actors; on the default path
// (createRuntime's group commit) the step's transitions are one job, committed as one SQLite
// transaction, awaited before the next step (as effects await Store.committed()). Compared with
// the same actors in memory (B1) and with SQLite alone writing the same rows in one transaction
// per step (B2, the floor).
import { createActor } from 'xstate';
import { prepareStatements, writeProjection } from '../../dist/persistence/sqliteStatements.js';
import { eventToJson } from '../../dist/src/eventJson.js';
import { deriveRows, stateToString } from '../../dist/src/projections.js';
import { since } from './stats.mjs';
import { BENCH_WORKER_MACHINE_ID, workerLikeMachine } from './workerLike.mjs';

const idsOf = (prefix, actors) => Array.from({ length: actors }, (_, i) => `${prefix}-${i}`);

/** `events` sent in lockstep to `actors` fresh actors hosted by `bench.host` (created beforehand, not timed); returns ms. */
export async function runHostedTogether(bench, store, events, prefix, actors) {
  const ids = idsOf(prefix, actors);
  for (const id of ids) bench.host.create('worker', id, { workerId: id });
  await bench.host.committed();
  const start = performance.now();
  for (const event of events) {
    for (const id of ids) bench.host.send(id, event);
    await bench.host.committed();
  }
  const ms = since(start);
  if (bench.errors.length > 0) throw new Error(`persist failed: ${bench.errors.join('; ')}`);
  for (const id of ids) {
    if (bench.host.get(id).actor.getSnapshot().context.turns !== Math.floor(events.length / 3)) throw new Error(`hosted actor ${id} missed events`);
  }
  const rows = (await store.journal(ids[0])).length;
  if (rows !== events.length + 1) throw new Error(`${rows} journal rows for ${events.length + 1} transitions of ${ids[0]}`);
  for (const id of ids) bench.host.detach(id);
  return ms;
}

/** The same in memory: `actors` plain XState actors, `events` sent in lockstep; returns ms. */
export function runInMemoryTogether(events, prefix, actors) {
  const running = idsOf(prefix, actors).map((id) => createActor(workerLikeMachine, { input: { workerId: id } }).start());
  const start = performance.now();
  for (const event of events) for (const actor of running) actor.send(event);
  const ms = since(start);
  for (const actor of running) {
    if (actor.getSnapshot().context.turns !== Math.floor(events.length / 3)) throw new Error('in-memory actor missed events');
    actor.stop();
  }
  return ms;
}

/**
 * The floor: SQLite alone writing the rows the store writes for each step (per actor: actors
 * upsert, journal insert, workers upsert, with the store's own prepared statements), one
 * transaction per step, every JSON text and row computed beforehand. Returns the timed run.
 */
export function prepareFloorTogether(db, events, prefix, actors) {
  const steps = events.map(() => []);
  for (const id of idsOf(prefix, actors)) {
    const actor = createActor(workerLikeMachine, { input: { workerId: id } }).start();
    events.forEach((event, i) => {
      actor.send(event);
      const snapshot = actor.getSnapshot();
      const persisted = JSON.stringify(actor.getPersistedSnapshot());
      steps[i].push({
        actor: { id, kind: 'worker', machine_id: BENCH_WORKER_MACHINE_ID, machine_version: 1, state: stateToString(snapshot.value), status: 'active', snapshot: persisted, seq: i + 1, at: 0, owner: 'runtime-floor' },
        journal: { actor_id: id, seq: i + 1, event_type: event.type, from_state: null, to_state: stateToString(snapshot.value), at: 0, snapshot: persisted, event: eventToJson(event) },
        projection: deriveRows('worker', id, snapshot).projection,
      });
    });
    actor.stop();
  }
  const s = prepareStatements(db);
  const write = db.transaction((rows) => {
    for (const row of rows) {
      s.actorUpsert.run(row.actor);
      s.journalInsert.run(row.journal);
      writeProjection(s, row.projection, row.actor.at);
    }
  });
  return () => {
    const start = performance.now();
    for (const rows of steps) write.immediate(rows);
    return since(start);
  };
}
