// Benchmark 1: persisted transitions per second of a worker-like machine hosted through the
// runtime's real write path (ActorHost + SqliteStore on a file: one transaction per
// transition writing the actor's snapshot, its journal row and its projection) against the
// same machine run in memory, at durability `normal` and `full`.
import path from 'node:path';
import Database from 'better-sqlite3';
import { createActor } from 'xstate';
import { ActorHost } from '../dist/src/actorHost.js';
import { systemClock } from '../dist/core/clock.js';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { prepareStatements, writeProjection } from '../dist/persistence/sqliteStatements.js';
import { eventToJson } from '../dist/src/eventJson.js';
import { deriveRows, stateToString } from '../dist/src/projections.js';
import { nextMacrotask, runBenchmark, tempDir } from './lib/child.mjs';
import { median, num, ratio, since, target } from './lib/stats.mjs';
import { BENCH_WORKER_MACHINE_ID, workerLikeEvents, workerLikeMachine } from './lib/workerLike.mjs';
import { prepareFloorTogether, runHostedTogether, runInMemoryTogether } from './lib/actorFleet.mjs';

/** Actors advancing together in B1 and B2. */
const ACTORS = 100;

/** B1 and B2 (bench/lib/actorFleet.mjs): persisted, in memory and the floor, alternating, median of the rounds. */
async function measureTogether(dir, quick) {
  const steps = quick ? 60 : 300;
  const rounds = quick ? 3 : 5;
  const events = workerLikeEvents(steps);
  const { db, store } = openBenchStore(path.join(dir, 'together.db'), 'normal');
  const bench = await createBenchHost(store, { groupCommit: true });
  const floorDb = openBenchStore(path.join(dir, 'together-floor.db'), 'normal');
  const floors = Array.from({ length: rounds + 1 }, (_, round) => prepareFloorTogether(floorDb.db, events, `floor-${round}`, ACTORS));
  // Warm-up: JIT, statement caches, the files' first pages.
  runInMemoryTogether(events.slice(0, 30), 'warmup', ACTORS);
  await runHostedTogether(bench, store, events.slice(0, 30), 'warmup', ACTORS);
  floors[rounds]();
  const times = { memory: [], persisted: [], floor: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['memory', 'persisted', 'floor'] : ['floor', 'persisted', 'memory'];
    for (const variant of order) {
      await nextMacrotask();
      if (variant === 'memory') times.memory.push(runInMemoryTogether(events, `mem-${round}`, ACTORS));
      if (variant === 'persisted') times.persisted.push(await runHostedTogether(bench, store, events, `actor-${round}`, ACTORS));
      if (variant === 'floor') times.floor.push(floors[round]());
    }
  }
  const synchronous = db.pragma('synchronous', { simple: true });
  await store.close();
  await floorDb.store.close();
  const count = steps * ACTORS;
  const rate = (ms) => (count * 1000) / ms;
  const vsMemory = median(times.persisted.map((ms, i) => times.memory[i] / ms));
  const vsFloor = median(times.persisted.map((ms, i) => times.floor[i] / ms));
  const row = (name, list, ratioCell) => [name, num(count), num(median(list.map(rate))), num(1e6 / median(list.map(rate)), 1), ratioCell];
  return {
    steps,
    rounds,
    vsMemory,
    vsFloor,
    details: { actors: ACTORS, steps, synchronous, ...times },
    table: {
      title: `B1 and B2: ${ACTORS} worker-like actors advancing together, one job per step (median of ${rounds} rounds, alternating)`,
      columns: ['variant', 'transitions a round', 'per second', 'µs each', 'persisted vs this'],
      rows: [
        row('in memory (createActor)', times.memory, ratio(vsMemory)),
        row('SQLite alone, the same rows, one transaction per step (the floor)', times.floor, ratio(vsFloor)),
        row(`ActorHost + SqliteStore, group commit (synchronous=${synchronous === 1 ? 'NORMAL' : synchronous})`, times.persisted, ''),
      ],
    },
  };
}

/** Whether the runtime in dist/ has group commit (always, since jobs: kept for the report's shape). */
export const HAS_GROUP_COMMIT = true;

/** Opens a SQLite store on `file` and keeps the connection, for pragmas and the floor's raw statements. */
export function openBenchStore(file, durability) {
  const db = new Database(file);
  return { db, store: new SqliteStore(db, { durability }) };
}

/**
 * Runtime-shaped host of the worker-like machine on `store`, owned by a registered runtime.
 * `hostOptions` is ActorHost's options argument: `{ groupCommit: false }` commits every
 * transition as a job of its own (the target's definition: one transaction per transition).
 */
export async function createBenchHost(store, hostOptions = { groupCommit: true }) {
  const errors = [];
  const definition = { kind: 'worker', machine: workerLikeMachine, machineId: BENCH_WORKER_MACHINE_ID, machineVersion: 1 };
  const definitions = { worker: definition, lease: definition, dispatch: definition, supervisor: definition };
  const hooks = {
    onTransition: () => undefined,
    onJobFailed: (error, detached) => errors.push(`${detached.map((actor) => actor.id).join(', ')}: ${error.message}`),
  };
  const host = new ActorHost(store, systemClock, definitions, hooks, hostOptions);
  if (typeof store.registerRuntime === 'function') {
    const runtimeId = `runtime-${await store.reserveSequence('runtime', 1)}`;
    await store.registerRuntime({ id: runtimeId, host: 'bench', hostId: 'bench', pid: process.pid, procStartTime: null, now: Date.now(), ttlMs: 3_600_000 });
    host.owner = runtimeId;
  }
  return { host, errors };
}

/** A store that keeps nothing: the ActorHost's own cost (snapshot, JSON, projection, jobs) without SQLite. */
export function createNullStore() {
  return { commitJob: () => Promise.resolve() };
}

/**
 * With group commit: sends `events` to a fresh hosted actor `perJob` at a time, each lot in
 * its own job, awaiting the store's group commit after each (as effects do before any I/O);
 * returns ms. Checks the journal afterwards: every transition committed.
 */
export async function runHostedGrouped(bench, store, events, workerId, perJob) {
  const start = performance.now();
  const hosted = bench.host.create('worker', workerId, { workerId });
  await bench.host.committed();
  for (let i = 0; i < events.length; i += perJob) {
    for (let j = i; j < Math.min(i + perJob, events.length); j++) bench.host.send(workerId, events[j]);
    await bench.host.committed();
  }
  const ms = since(start);
  if (bench.errors.length > 0) throw new Error(`persist failed: ${bench.errors.join('; ')}`);
  if (hosted.actor.getSnapshot().context.turns !== Math.floor(events.length / 3)) throw new Error('hosted actor missed events');
  const rows = (await store.journal(workerId)).length;
  if (rows !== events.length + 1) throw new Error(`group commit: ${rows} journal rows for ${events.length + 1} transitions`);
  bench.host.detach(workerId);
  return ms;
}

/** Sends `events` to a fresh in-memory actor; returns ms. */
export function runInMemory(events, workerId) {
  const start = performance.now();
  const actor = createActor(workerLikeMachine, { input: { workerId } }).start();
  for (const event of events) actor.send(event);
  const ms = since(start);
  if (actor.getSnapshot().context.turns !== Math.floor(events.length / 3)) throw new Error('in-memory actor missed events');
  actor.stop();
  return ms;
}

/** Sends `events` to a fresh actor hosted (and persisted) by `bench.host`, until every transition is committed; returns ms. */
export async function runHosted(bench, events, workerId) {
  const start = performance.now();
  const hosted = bench.host.create('worker', workerId, { workerId });
  for (const event of events) bench.host.send(workerId, event);
  await bench.host.committed();
  const ms = since(start);
  if (bench.errors.length > 0) throw new Error(`persist failed: ${bench.errors.join('; ')}`);
  if (hosted.actor.getSnapshot().context.turns !== Math.floor(events.length / 3)) throw new Error('hosted actor missed events');
  bench.host.detach(workerId);
  return ms;
}

/**
 * The SQLite floor: the same three row writes the store makes per transition (its own
 * prepared statements: actors upsert, journal insert, workers upsert), one transaction each,
 * with every JSON text and projection row computed beforehand — no XState, no reads, no checks.
 */
export function prepareFloor(db, events, actorId) {
  const actor = createActor(workerLikeMachine, { input: { workerId: actorId } }).start();
  const rows = events.map((event, i) => {
    actor.send(event);
    const snapshot = actor.getSnapshot();
    return {
      actor: { id: actorId, kind: 'worker', machine_id: BENCH_WORKER_MACHINE_ID, machine_version: 1, state: stateToString(snapshot.value), status: 'active', snapshot: JSON.stringify(actor.getPersistedSnapshot()), seq: i + 1, at: 0, owner: 'runtime-floor' },
      journal: { actor_id: actorId, seq: i + 1, event_type: event.type, from_state: null, to_state: stateToString(snapshot.value), at: 0, snapshot: '', event: eventToJson(event) },
      projection: deriveRows('worker', actorId, snapshot).projection,
    };
  });
  for (const row of rows) row.journal.snapshot = row.actor.snapshot;
  actor.stop();
  const s = prepareStatements(db);
  const write = db.transaction((row) => {
    s.actorUpsert.run(row.actor);
    s.journalInsert.run(row.journal);
    writeProjection(s, row.projection, row.actor.at);
  });
  return () => {
    const start = performance.now();
    for (const row of rows) write.immediate(row);
    return since(start);
  };
}

async function main({ quick, profile }) {
  const sizes = quick ? { normal: 2_000, full: 200, rounds: 3 } : { normal: 20_000, full: 2_000, rounds: 5 };
  const tmp = tempDir('transitions');
  try {
    if (profile) {
      const store = SqliteStore.fromPath(path.join(tmp.dir, 'profile.db'), { durability: 'normal' });
      const bench = await createBenchHost(store, { groupCommit: false });
      await runHosted(bench, workerLikeEvents(1_000), 'warmup');
      for (let i = 0; i < 5; i++) await runHosted(bench, workerLikeEvents(sizes.normal), `worker-${i}`);
      await store.close();
      return { profiled: `${5 * sizes.normal} persisted transitions at durability normal` };
    }

    const rows = [];
    const groupRows = [];
    const targets = [];
    const details = {};
    const nullBench = await createBenchHost(createNullStore(), { groupCommit: false });
    for (const durability of ['normal', 'full']) {
      const count = sizes[durability];
      const events = workerLikeEvents(count);
      const { db, store } = openBenchStore(path.join(tmp.dir, `${durability}.db`), durability);
      const bench = await createBenchHost(store, { groupCommit: false });
      const synchronous = db.pragma('synchronous', { simple: true });
      // Warm-up: JIT, statement caches, the file's first pages.
      runInMemory(events.slice(0, Math.min(count, 1_000)), 'warmup');
      await runHosted(bench, events.slice(0, Math.min(count, 1_000)), `warmup-${durability}`);
      await runHosted(nullBench, events.slice(0, Math.min(count, 1_000)), `warmup-null-${durability}`);
      const floorStore = openBenchStore(path.join(tmp.dir, `floor-${durability}.db`), durability);
      const floorRounds = Array.from({ length: sizes.rounds + 1 }, (_, round) => prepareFloor(floorStore.db, events, `floor-${round}`));
      floorRounds[sizes.rounds]();
      const memory = [];
      const hosted = [];
      const hostOnly = [];
      const floor = [];
      const cpuOf = { memory: [], persisted: [], host: [], floor: [] };
      for (let round = 0; round < sizes.rounds; round++) {
        // Alternate the order so drifting load hits both variants alike.
        const order = round % 2 === 0 ? ['memory', 'persisted', 'host', 'floor'] : ['floor', 'persisted', 'host', 'memory'];
        for (const variant of order) {
          await nextMacrotask();
          const cpu = process.cpuUsage();
          if (variant === 'memory') memory.push(runInMemory(events, `mem-${durability}-${round}`));
          if (variant === 'persisted') hosted.push(await runHosted(bench, events, `worker-${durability}-${round}`));
          if (variant === 'host') hostOnly.push(await runHosted(nullBench, events, `null-${durability}-${round}`));
          if (variant === 'floor') floor.push(floorRounds[round]());
          const used = process.cpuUsage(cpu);
          cpuOf[variant].push({ user: used.user / count, system: used.system / count });
        }
      }
      const rate = (ms) => (count * 1000) / ms;
      const cpuCells = (variant) => [num(median(cpuOf[variant].map((c) => c.user)), 1), num(median(cpuOf[variant].map((c) => c.system)), 1)];
      const memoryRate = median(memory.map(rate));
      const persistedRate = median(hosted.map(rate));
      const hostOnlyRate = median(hostOnly.map(rate));
      const floorRate = median(floor.map(rate));
      await floorStore.store.close();
      const paired = median(hosted.map((ms, i) => memory[i] / ms));
      const journalRows = db.prepare('SELECT count(*) AS n, avg(length(snapshot)) AS bytes FROM journal').get();
      details[durability] = { count, synchronous, memoryMs: memory, persistedMs: hosted, hostOnlyMs: hostOnly, floorMs: floor, journalRows: journalRows.n, snapshotBytes: journalRows.bytes };
      await store.close();
      if (HAS_GROUP_COMMIT) {
        const grouped = SqliteStore.fromPath(path.join(tmp.dir, `grouped-${durability}.db`), { durability });
        const groupedBench = await createBenchHost(grouped, { groupCommit: true });
        for (const perJob of [1, 3, count]) {
          await runHostedGrouped(groupedBench, grouped, events.slice(0, Math.min(count, 999)), `warmup-grouped-${perJob}`, perJob);
          const times = [];
          for (let round = 0; round < sizes.rounds; round++) times.push(await runHostedGrouped(groupedBench, grouped, events, `grouped-${perJob}-${round}`, perJob));
          const groupedRate = median(times.map(rate));
          details[durability][`groupCommit${perJob}Ms`] = times;
          groupRows.push([
            `${durability}: group commit, ${perJob === 1 ? 'one event per job' : perJob === 3 ? 'one turn (3 events) per job' : 'all events in one job (one commit: the upper bound)'}`,
            num(count),
            num(groupedRate),
            num(1e6 / groupedRate, 1),
            ratio(groupedRate / memoryRate),
          ]);
        }
        await grouped.close();
      }
      rows.push(
        [`${durability}: in memory (createActor, no persistence)`, num(count), num(memoryRate), num(1e6 / memoryRate, 1), ...cpuCells('memory'), ''],
        [`${durability}: ActorHost, store that writes nothing`, num(count), num(hostOnlyRate), num(1e6 / hostOnlyRate, 1), ...cpuCells('host'), ratio(hostOnlyRate / memoryRate)],
        [`${durability}: SQLite floor (same 3 row writes per transaction, precomputed, no XState)`, num(count), num(floorRate), num(1e6 / floorRate, 1), ...cpuCells('floor'), ratio(floorRate / memoryRate)],
        [`${durability}: ActorHost + SqliteStore (synchronous=${synchronous === 1 ? 'NORMAL' : synchronous === 2 ? 'FULL' : synchronous})`, num(count), num(persistedRate), num(1e6 / persistedRate, 1), ...cpuCells('persisted'), ratio(paired)],
      );
    }
    const together = await measureTogether(tmp.dir, quick);
    targets.push(
      target('B1 persisted / in-memory transitions per second, 100 actors together (normal)', together.vsMemory, '>=', 0.25),
      target('B2 persisted / SQLite alone writing the same rows, one transaction per job', together.vsFloor, '>=', 0.8),
    );
    details.together = together.details;
    return {
      id: 1,
      title: 'Persisted transitions per second (worker-like machine)',
      tables: [
        together.table,
        {
          title: `Not a target: transitions of one actor, one job each, median of ${sizes.rounds} rounds after a warm-up; ratio = median of per-round persisted/in-memory`,
          columns: ['variant', 'transitions', 'per second', 'µs each', 'CPU user µs', 'CPU sys µs', 'ratio to in memory'],
          rows,
        },
        ...(groupRows.length === 0
          ? []
          : [
              {
                title: `Group commit (ActorHost { groupCommit: true }, what createRuntime uses by default): the transitions of one job share one commit; events sent a job at a time, each job awaiting Store.committed() as effects do; median of ${sizes.rounds} rounds. Not the target's definition (one transaction per transition)`,
                columns: ['variant', 'transitions', 'per second', 'µs each', 'ratio to in memory'],
                rows: groupRows,
              },
            ]),
      ],
      targets,
      notes: [
        `B1/B2: ${ACTORS} worker-like actors created (not timed), then ${together.steps} steps, each sending one event to every actor (${together.steps * ACTORS} transitions a round); persisted: ActorHost with group commit (createRuntime's default) on SqliteStore at durability normal, each step's transitions one job awaited with Store.committed(), as effects do; in memory: the same actors with createActor; floor: the same 3 rows per transition with the store's prepared statements, one transaction per step, everything computed beforehand. Median of ${together.rounds} rounds, alternating the order; ratios are medians of per-round ratios.`,
        'Machine: between_turns ⇄ in_turn (ASSIGN, TURN_STARTED, TURN_ENDED per turn), context changes on every event; no invoked effects.',
        `Each persisted transition is one job (ActorHost { groupCommit: false }), committed asynchronously as one SQLite transaction (BEGIN IMMEDIATE) writing the actors row, a journal row and the workers projection row; average snapshot ${num(details.normal.snapshotBytes)} bytes of JSON, written twice (actors + journal).`,
        'The host is owned by a registered runtime, so every write also checks ownership, as in `statecrew run`.',
        '"store that writes nothing": ActorHost with a Store whose commitJob does nothing — the cost of the host itself (persisted snapshot, JSON, projection row, inspection hook). "SQLite floor": the store\'s own prepared statements for the three rows, one transaction per transition, all JSON and rows computed beforehand — what SQLite alone costs on this file system. CPU µs: user and system CPU time of the process per transition (system time is mostly the WAL writes).',
      ],
      details,
    };
  } finally {
    tmp.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark(main);
