// Benchmark 2: the persisted-state workload of benchmark 1 (same machine, same events, so
// the same snapshots, same count) written by LangGraph's SQLite checkpointer
// (`SqliteSaver.put`, one checkpoint row per state) against statecrew's write path.
import path from 'node:path';
import Database from 'better-sqlite3';
import { uuid6 } from '@langchain/langgraph-checkpoint';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { createActor } from 'xstate';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { eventToJson } from '../dist/src/eventJson.js';
import { actorStatus, deriveRows, stateToString } from '../dist/src/projections.js';
import { nextMacrotask, runBenchmark, tempDir } from './lib/child.mjs';
import { median, num, ratio, since, target } from './lib/stats.mjs';
import { BENCH_WORKER_MACHINE_ID, workerLikeEvents, workerLikeMachine } from './lib/workerLike.mjs';
import { createBenchHost, HAS_GROUP_COMMIT, openBenchStore, runHosted, runHostedGrouped } from './transitions.mjs';
import { runHostedTogether } from './lib/actorFleet.mjs';

/** Actors (LangGraph threads) persisted per step in B3. */
const THREADS = 1_000;

/** LangGraph side of B3: `actors` threads, each step one event to each actor and one `put` per thread (initial states put beforehand, not timed); returns ms. */
async function runSaverTogether(saver, events, prefix, actors) {
  const ids = Array.from({ length: actors }, (_, i) => `${prefix}-${i}`);
  const running = ids.map((id) => createActor(workerLikeMachine, { input: { workerId: id } }).start());
  const parents = [];
  for (let i = 0; i < actors; i++) parents.push(await putCheckpoint(saver, ids[i], null, checkpointOf(running[i].getPersistedSnapshot(), -1), -1, 'xstate.init'));
  const start = performance.now();
  for (let step = 0; step < events.length; step++) {
    for (let i = 0; i < actors; i++) {
      running[i].send(events[step]);
      parents[i] = await putCheckpoint(saver, ids[i], parents[i], checkpointOf(running[i].getPersistedSnapshot(), step), step, events[step].type);
    }
  }
  const ms = since(start);
  for (const actor of running) actor.stop();
  return ms;
}

/** B3: 1,000 actors' states persisted per step, statecrew (group commit: one job per step) against LangGraph (one put per thread), alternating. */
async function measureThousand(dir, quick) {
  const steps = quick ? 6 : 30;
  const rounds = quick ? 3 : 5;
  const events = workerLikeEvents(steps);
  const { store } = openBenchStore(path.join(dir, 'b3-statecrew.db'), 'normal');
  const bench = await createBenchHost(store, { groupCommit: true });
  const { db, saver } = openSaver(path.join(dir, 'b3-langgraph.db'), 'normal');
  await runHostedTogether(bench, store, events.slice(0, 3), 'warmup', THREADS);
  await runSaverTogether(saver, events.slice(0, 3), 'warmup', THREADS);
  const times = { statecrew: [], langgraph: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['statecrew', 'langgraph'] : ['langgraph', 'statecrew'];
    for (const variant of order) {
      await nextMacrotask();
      if (variant === 'statecrew') times.statecrew.push(await runHostedTogether(bench, store, events, `actor-${round}`, THREADS));
      else times.langgraph.push(await runSaverTogether(saver, events, `thread-${round}`, THREADS));
    }
  }
  await store.close();
  db.close();
  const states = steps * THREADS;
  const rate = (ms) => (states * 1000) / ms;
  const paired = median(times.statecrew.map((ms, i) => times.langgraph[i] / ms));
  return {
    paired,
    details: { threads: THREADS, steps, ...times },
    rows: [
      [`B3: LangGraph SqliteSaver.put, ${num(THREADS)} threads, one put each per step`, num(states), num(median(times.langgraph.map(rate))), num(1e6 / median(times.langgraph.map(rate)), 1), ''],
      [`B3: statecrew ActorHost + SqliteStore, ${num(THREADS)} actors, group commit (one job per step)`, num(states), num(median(times.statecrew.map(rate))), num(1e6 / median(times.statecrew.map(rate)), 1), ratio(paired)],
    ],
    note: `B3: ${num(THREADS)} worker-like actors (LangGraph: threads) at durability normal, ${steps} steps, each sending one event to every actor and persisting every new state: statecrew through ActorHost with group commit (createRuntime's default: the step's transitions one job, one SQLite transaction, awaited); LangGraph with one awaited \`SqliteSaver.put\` per thread per step (its API persists one checkpoint per call, each an autocommit INSERT). Initial states are written beforehand, not timed. Median of ${rounds} rounds, alternating; ratio = median of per-round statecrew/LangGraph rates.`,
  };
}

/** A LangGraph checkpoint holding one persisted XState snapshot as its only channel value. */
function checkpointOf(snapshot, step) {
  return {
    v: 4,
    id: uuid6(step),
    ts: new Date().toISOString(),
    channel_values: { snapshot },
    channel_versions: { snapshot: step },
    versions_seen: {},
  };
}

/** Puts `checkpoint` as the next state of `threadId` after `parentId`; returns its id. */
async function putCheckpoint(saver, threadId, parentId, checkpoint, step, eventType) {
  const config = { configurable: { thread_id: threadId, checkpoint_ns: '', ...(parentId === null ? {} : { checkpoint_id: parentId }) } };
  const metadata = { source: 'loop', step, parents: {}, event: eventType };
  const saved = await saver.put(config, checkpoint, metadata, { snapshot: step });
  return saved.configurable.checkpoint_id;
}

/** LangGraph side, driven by the machine: send each event to an in-memory actor, then `put` its persisted snapshot. */
async function runSaverWithMachine(saver, events, threadId) {
  const start = performance.now();
  const actor = createActor(workerLikeMachine, { input: { workerId: threadId } }).start();
  let parent = await putCheckpoint(saver, threadId, null, checkpointOf(actor.getPersistedSnapshot(), -1), -1, 'xstate.init');
  for (let step = 0; step < events.length; step++) {
    actor.send(events[step]);
    parent = await putCheckpoint(saver, threadId, parent, checkpointOf(actor.getPersistedSnapshot(), step), step, events[step].type);
  }
  const ms = since(start);
  actor.stop();
  return ms;
}

/** LangGraph side, store only: `put` each of the recorded snapshots. */
async function runSaverStoreOnly(saver, recorded, threadId) {
  const start = performance.now();
  let parent = null;
  for (let step = 0; step < recorded.length; step++) {
    parent = await putCheckpoint(saver, threadId, parent, checkpointOf(recorded[step].snapshot, step), step, recorded[step].event.type);
  }
  return since(start);
}

/**
 * statecrew side, store only: what ActorHost.persist does after the transition — snapshot
 * JSON, event JSON, projection row — then one `commitJob` of one transition per recorded
 * snapshot, each awaited (one transaction per state, as SqliteSaver.put).
 */
async function runStoreOnly(store, owner, recorded, actorId) {
  const start = performance.now();
  let from = null;
  for (let i = 0; i < recorded.length; i++) {
    const { snapshot, event } = recorded[i];
    const state = stateToString(snapshot.value);
    await store.commitJob([{
      actorId,
      kind: 'worker',
      machineId: BENCH_WORKER_MACHINE_ID,
      machineVersion: 1,
      state,
      status: actorStatus(snapshot),
      snapshot: JSON.stringify(snapshot),
      eventType: event.type,
      event: eventToJson(event),
      fromState: from,
      at: Date.now(),
      owner,
      seq: i + 1,
      ...deriveRows('worker', actorId, snapshot),
    }]);
    from = state;
  }
  return since(start);
}

/** The snapshots the machine goes through: the initial one, then one per event. */
function recordSnapshots(events) {
  const actor = createActor(workerLikeMachine, { input: { workerId: 'recorded' } }).start();
  const recorded = [{ snapshot: actor.getPersistedSnapshot(), event: { type: 'xstate.init' } }];
  for (const event of events) {
    actor.send(event);
    recorded.push({ snapshot: actor.getPersistedSnapshot(), event });
  }
  actor.stop();
  return recorded;
}

function openSaver(file, durability) {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
  const saver = new SqliteSaver(db);
  saver.setup();
  return { db, saver };
}

async function main({ quick, profile }) {
  const sizes = quick ? { normal: 2_000, full: 200, rounds: 3 } : { normal: 20_000, full: 2_000, rounds: 5 };
  const tmp = tempDir('checkpointer');
  try {
    if (profile) {
      // The statecrew side of the machine-driven comparison (as benchmark 1 at normal).
      const store = SqliteStore.fromPath(path.join(tmp.dir, 'profile.db'), { durability: 'normal' });
      const bench = await createBenchHost(store, { groupCommit: false });
      for (let i = 0; i < 5; i++) await runHosted(bench, workerLikeEvents(sizes.normal), `worker-${i}`);
      await store.close();
      return { profiled: `${5 * sizes.normal} persisted transitions at durability normal` };
    }
    const rows = [];
    const targets = [];
    const details = {};
    for (const durability of ['normal', 'full']) {
      const count = sizes[durability];
      const events = workerLikeEvents(count);
      const recorded = recordSnapshots(events);
      const opened = openBenchStore(path.join(tmp.dir, `statecrew-${durability}.db`), durability);
      const store = opened.store;
      const bench = await createBenchHost(store, { groupCommit: false });
      const { db, saver } = openSaver(path.join(tmp.dir, `langgraph-${durability}.db`), durability);
      const warm = Math.min(count, 500);
      await runHosted(bench, events.slice(0, warm), `warmup-${durability}`);
      await runStoreOnly(store, bench.host.owner, recorded.slice(0, warm), `warmup-store-${durability}`);
      await runSaverWithMachine(saver, events.slice(0, warm), `warmup-${durability}`);
      await runSaverStoreOnly(saver, recorded.slice(0, warm), `warmup-store-${durability}`);
      const times = { hosted: [], storeOnly: [], saverMachine: [], saverStore: [], grouped: [] };
      // createRuntime's default where the runtime has it: group commit, here one event per job.
      const grouped = HAS_GROUP_COMMIT ? { store: SqliteStore.fromPath(path.join(tmp.dir, `statecrew-grouped-${durability}.db`), { durability }) } : null;
      if (grouped !== null) {
        grouped.bench = await createBenchHost(grouped.store, { groupCommit: true });
        await runHostedGrouped(grouped.bench, grouped.store, events.slice(0, warm), `warmup-grouped-${durability}`, 1);
      }
      for (let round = 0; round < sizes.rounds; round++) {
        const order = round % 2 === 0 ? ['hosted', 'saverMachine', 'storeOnly', 'saverStore'] : ['saverMachine', 'hosted', 'saverStore', 'storeOnly'];
        for (const variant of order) {
          await nextMacrotask();
          const id = `${variant}-${durability}-${round}`;
          if (variant === 'hosted') times.hosted.push(await runHosted(bench, events, id));
          if (variant === 'storeOnly') times.storeOnly.push(await runStoreOnly(store, bench.host.owner, recorded, id));
          if (variant === 'saverMachine') times.saverMachine.push(await runSaverWithMachine(saver, events, id));
          if (variant === 'saverStore') times.saverStore.push(await runSaverStoreOnly(saver, recorded, id));
        }
        if (grouped !== null) times.grouped.push(await runHostedGrouped(grouped.bench, grouped.store, events, `grouped-${durability}-${round}`, 1));
      }
      // Both machine-driven sides write count + 1 states (the initial one and one per event).
      const rate = (ms) => ((count + 1) * 1000) / ms;
      const pairedHosted = median(times.hosted.map((ms, i) => times.saverMachine[i] / ms));
      const pairedStore = median(times.storeOnly.map((ms, i) => times.saverStore[i] / ms));
      const sizesOf = {
        statecrewJournalSnapshotBytes: opened.db.prepare('SELECT avg(length(snapshot)) AS b FROM journal').get().b,
        statecrewJournalEventBytes: opened.db.prepare('SELECT avg(length(event)) AS b FROM journal').get().b,
        statecrewActorBytes: opened.db.prepare('SELECT avg(length(snapshot)) AS b FROM actors').get().b,
        langgraphCheckpointBytes: db.prepare('SELECT avg(length(checkpoint) + length(metadata)) AS b FROM checkpoints').get().b,
      };
      details[durability] = { count, times, ...sizesOf };
      await store.close();
      await grouped?.store.close();
      db.close();
      const row = (label, list, ratioText) => [label, num(count + 1), num(median(list.map(rate))), num(1e6 / median(list.map(rate)), 1), ratioText];
      rows.push(
        row(`${durability}: LangGraph SqliteSaver.put, machine-driven`, times.saverMachine, ''),
        row(`${durability}: statecrew ActorHost + SqliteStore, machine-driven`, times.hosted, ratio(pairedHosted)),
        ...(grouped === null
          ? []
          : [row(`${durability}: statecrew with group commit, one event per job (not a target)`, times.grouped, ratio(median(times.grouped.map((ms, i) => times.saverMachine[i] / ms))))]),
        row(`${durability}: LangGraph SqliteSaver.put, recorded snapshots`, times.saverStore, ''),
        row(`${durability}: statecrew SqliteStore.commitJob of one transition, recorded snapshots`, times.storeOnly, ratio(pairedStore)),
      );
    }
    const thousand = await measureThousand(tmp.dir, quick);
    targets.push(target(`B3 statecrew / LangGraph SqliteSaver.put, ${num(THREADS)} actors' states per step`, thousand.paired, '>=', 5));
    details.thousand = thousand.details;
    const d = details.normal;
    return {
      id: 2,
      title: 'Persisted state vs LangGraph SqliteSaver',
      tables: [
        {
          title: `B3: ${num(THREADS)} actors' states persisted per step (median of rounds, alternating)`,
          columns: ['variant', 'states', 'per second', 'µs each', 'statecrew / LangGraph'],
          rows: thousand.rows,
        },
        {
          title: `Not a target: one actor's states one at a time, median of ${sizes.rounds} rounds after a warm-up; ratio = median of per-round statecrew/LangGraph rate`,
          columns: ['variant', 'states', 'per second', 'µs each', 'statecrew / LangGraph'],
          rows,
        },
      ],
      targets,
      notes: [
        thousand.note,
        'Same machine and events as benchmark 1, so both sides persist the same snapshots (the initial state and one per event), one after the other, each on its own SQLite file in WAL mode with the same `synchronous` setting, in the same process.',
        `statecrew writes per state, in one BEGIN IMMEDIATE transaction: an upsert of the actors row (snapshot JSON, ${num(d.statecrewActorBytes)} bytes), a journal row (snapshot JSON again, ${num(d.statecrewJournalSnapshotBytes)} bytes on average, and event JSON, ${num(d.statecrewJournalEventBytes)} bytes) and an upsert of the workers projection, after reading the actor's sequence number and owner and the runtime's registry row.`,
        `LangGraph writes per state one autocommit \`INSERT OR REPLACE\` into \`checkpoints\` (checkpoint + metadata, ${num(d.langgraphCheckpointBytes)} bytes: the snapshot as the only channel value, uuid6 id, timestamp, version maps; metadata with step and event type), serialised by its JsonPlusSerializer; \`put\` prepares its INSERT on every call and is awaited (its API is async). No \`putWrites\` (statecrew has no pending writes to record).`,
        'machine-driven: each side runs the XState transition too (statecrew through ActorHost; LangGraph after `actor.send` on an in-memory actor, then `getPersistedSnapshot`). recorded snapshots: the snapshots are taken beforehand; statecrew still builds its JSON, event JSON and projection row, LangGraph still builds and serialises its checkpoint.',
      ],
      details,
    };
  } finally {
    tmp.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark(main);
