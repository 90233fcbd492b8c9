// Benchmark 8: the store's size over a long run with retention on (B8 of docs/benchmarks.md).
// Worker-like actors hosted through the runtime's write path (ActorHost with group commit on a
// SqliteStore file, durability normal): 100 of them at a time, each living 10 turns (30
// transitions) and then finishing, a new one taking its place, one event to each live actor per
// step (one job per step), until 1,000,000 transitions. Retention as the runtime applies it
// (`RetentionJob`: Store.compact batches with every period 0s, here every 100 steps). The file's
// size (database + WAL) is sampled as it goes; the same workload without retention, for a fifth
// of the transitions, gives the growth per transition it stops.
import fs from 'node:fs';
import path from 'node:path';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { runBenchmark, tempDir } from './lib/child.mjs';
import { num, since, target } from './lib/stats.mjs';
import { workerLikeEvents } from './lib/workerLike.mjs';
import { createBenchHost } from './transitions.mjs';

const LIVE = 100;
const TURNS_PER_ACTOR = 10;
const COMPACT_EVERY_STEPS = 100;
const MIB = 1024 * 1024;

function sizeOf(file) {
  const size = (f) => (fs.existsSync(f) ? fs.statSync(f).size : 0);
  return size(file) + size(`${file}-wal`);
}

/** Runs the workload to `total` transitions; samples the size `samples` times; resolves with the samples and what retention dropped. */
async function runWorkload(file, total, retention, samples) {
  const store = SqliteStore.fromPath(file, { durability: 'normal' });
  const bench = await createBenchHost(store, { groupCommit: true });
  const life = [...workerLikeEvents(TURNS_PER_ACTOR * 3), { type: 'FINISH' }];
  let next = 0;
  const live = [];
  const spawn = () => {
    const id = `worker-${++next}`;
    bench.host.create('worker', id, { workerId: id });
    live.push({ id, at: 0 });
  };
  for (let i = 0; i < LIVE; i++) spawn();
  await bench.host.committed();
  let transitions = LIVE;
  let steps = 0;
  const points = [];
  const dropped = { journalRows: 0, actors: 0 };
  const every = Math.floor(total / samples);
  const start = performance.now();
  while (transitions < total) {
    for (const actor of live) bench.host.send(actor.id, life[actor.at++]);
    transitions += live.length;
    const finished = [];
    for (let i = live.length - 1; i >= 0; i--) {
      if (live[i].at === life.length) {
        finished.push(live[i].id);
        live.splice(i, 1);
        spawn();
        transitions++;
      }
    }
    await bench.host.committed();
    // A finished actor is stopped in memory once its final transition is committed.
    for (const id of finished) bench.host.detach(id);
    if (bench.errors.length > 0) throw new Error(`persist failed: ${bench.errors.join('; ')}`);
    steps++;
    if (retention && steps % COMPACT_EVERY_STEPS === 0) {
      const now = Date.now();
      for (;;) {
        const result = await store.compact({ before: { journal: now, turnOutput: now, actors: now } });
        dropped.journalRows += result.journalRows;
        dropped.actors += result.actors;
        if (!result.more) break;
      }
    }
    if (points.length < samples && transitions >= (points.length + 1) * every) points.push({ transitions, bytes: sizeOf(file) });
  }
  const ms = since(start);
  await store.close();
  return { points, dropped, ms, finishedActors: next - LIVE, bytes: sizeOf(file) };
}

async function main({ quick, profile }) {
  const total = quick ? 100_000 : 1_000_000;
  const tmp = tempDir('store-size');
  try {
    if (profile) {
      await runWorkload(path.join(tmp.dir, 'profile.db'), total / 5, true, 5);
      return { profiled: `${num(total / 5)} transitions with retention` };
    }
    const kept = await runWorkload(path.join(tmp.dir, 'retention.db'), total, true, 10);
    const baseline = await runWorkload(path.join(tmp.dir, 'no-retention.db'), total / 5, false, 5);
    const final = kept.bytes / MIB;
    // Flatness from the samples taken while the store was open (database + WAL alike).
    const half = kept.points[Math.floor(kept.points.length / 2) - 1];
    const last = kept.points.at(-1);
    const growth = half === undefined || last === undefined ? null : last.bytes / half.bytes;
    const perTransition = baseline.bytes / (total / 5);
    return {
      id: 8,
      title: `Store size over ${num(total)} transitions, with retention and without`,
      tables: [
        {
          title: `With retention (every period 0s, compacted every ${COMPACT_EVERY_STEPS} steps): size as the run goes`,
          columns: ['transitions', 'store size (database + WAL)'],
          rows: kept.points.map((p) => [num(p.transitions), `${(p.bytes / MIB).toFixed(1)} MiB`]),
        },
        {
          title: 'Side by side',
          columns: ['variant', 'transitions', 'finished actors', 'store size', 'bytes per transition', 'wall'],
          rows: [
            ['with retention', num(total), num(kept.finishedActors), `${final.toFixed(1)} MiB`, num(kept.bytes / total), `${(kept.ms / 1000).toFixed(1)} s`],
            ['without retention', num(total / 5), num(baseline.finishedActors), `${(baseline.bytes / MIB).toFixed(1)} MiB`, num(perTransition), `${(baseline.ms / 1000).toFixed(1)} s`],
            [`without retention, projected to ${num(total)}`, num(total), '', `${((perTransition * total) / MIB).toFixed(0)} MiB`, num(perTransition), ''],
          ],
        },
      ],
      targets: [
        target(`B8 store size after ${num(total)} transitions with retention on`, final, '<=', 200, (v) => `${v.toFixed(1)} MiB`),
        target('B8 flat: size at the last sample / size at half way (both while open)', growth ?? Infinity, '<=', 1.1),
      ],
      notes: [
        `Workload: ${LIVE} worker-like actors live at a time, each ${TURNS_PER_ACTOR} turns (${TURNS_PER_ACTOR * 3} events, event payloads the size of real ones) and then FINISH to a final state; a finished actor is replaced at once. One event to each live actor per step, one job (one SQLite transaction) per step, through ActorHost + SqliteStore with group commit at durability normal, as createRuntime writes.`,
        `Retention: Store.compact with journal, turnOutput and actors all at 0s, in batches of 200 actors until none is full, every ${COMPACT_EVERY_STEPS} steps (as RetentionJob does every \`every\`). What stays: the live actors' rows and journals, and one projection row per actor ever created (the workers table, which status reads). Dropped: ${num(kept.dropped.journalRows)} journal rows, ${num(kept.dropped.actors)} actor rows. No VACUUM: SQLite reuses the freed pages, so the file stops growing but does not shrink.`,
        'Size: the database file plus its WAL, sampled after each tenth of the transitions while the store is open; the store size in the side-by-side table is after closing (WAL checkpointed).',
      ],
      details: { kept, baseline },
    };
  } finally {
    tmp.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark(main);
