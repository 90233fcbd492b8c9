// Benchmark 3: restoring persisted actors of all four kinds, as a runtime does at start —
// read the rows it owns, validate each, createActor(machine, { snapshot }), start, and close
// the supervisors of dead runtimes — against bare createActor(machine, { snapshot }).start()
// on the same snapshots; and the heap each restored actor keeps. Needs --expose-gc.
import { spawn } from 'node:child_process';
import { copyFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createActor } from 'xstate';
import { ActorHost } from '../dist/src/actorHost.js';
import { systemClock } from '../dist/core/clock.js';
import Database from 'better-sqlite3';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { nextMacrotask, runBenchmark, tempDir } from './lib/child.mjs';
import { snapshotExecArgv } from './lib/distSnapshot.mjs';
import { idleDefinitions, populateDefinitions } from './lib/machines.mjs';
import { kib, median, num, ratio, since, target } from './lib/stats.mjs';

const OWNER = 'runtime-1';
/** Whether the runtime has group commit (then createRuntime uses it, and so does this benchmark). */
const GROUP_COMMIT = true;
const SUPERVISORS = 8;
/** What each group of four actors looks like, by `group % 4`. */
const VARIANTS = ['worker in_turn, dispatch running', 'worker in_turn, dispatch claimed', 'worker between_turns, dispatch pending.ready', 'worker between_turns, dispatch pending.backoff'];

function hooksInto(errors) {
  return {
    onTransition: () => undefined,
    onJobFailed: (error, detached) => errors.push(`${detached.map((actor) => actor.id).join(', ')}: ${error.message}`),
  };
}

async function settle() {
  for (let i = 0; i < 5; i++) await nextMacrotask();
}

function assignment(group, workerId, fencingToken) {
  const unitId = `m${group}/unit-1`;
  const dispatchId = `${unitId}#1`;
  return {
    dispatchId,
    unitId,
    milestoneId: `m${group}`,
    workerId,
    attempt: 1,
    fencingToken,
    command: ['node', 'scripts/build.mjs', '--out', 'dist'],
    protocol: 'text',
    resumeSessionId: null,
    cwd: '/work/project',
    env: {},
    input: null,
    timeoutMs: 600_000,
    stallTimeoutMs: 120_000,
    killGraceMs: 5_000,
    logPath: `/work/project/.statecrew/logs/m${group}_unit-1/attempt-1-1.log`,
    turnKey: `0123456789abcdef0123456789abcdef:${dispatchId}`,
  };
}

/**
 * Writes `total` actors through the real write path (ActorHost + SqliteStore, real lease
 * ledger): `SUPERVISORS` supervisors of dead runtimes (running), and groups of a worker
 * holding a milestone lease, the lease (held), the dispatch of the unit it works on (running,
 * claimed, pending.ready or pending.backoff, see VARIANTS) and a retry of another unit
 * waiting in pending.backoff.
 */
async function populate(file, total) {
  const db = new Database(file);
  const store = new SqliteStore(db);
  const startTurns = new Set();
  const errors = [];
  const host = new ActorHost(store, systemClock, populateDefinitions(store, startTurns), hooksInto(errors));
  await store.registerRuntime({ id: OWNER, host: 'bench', hostId: 'bench', pid: process.pid, procStartTime: null, now: Date.now(), ttlMs: 3_600_000 });
  host.owner = OWNER;
  const groups = Math.floor((total - SUPERVISORS) / 4);
  const supervisors = total - groups * 4;
  const future = Date.now() + 3_600_000;
  for (let k = 0; k < supervisors; k++) {
    const id = `supervisor-runtime-dead-${k}`;
    host.create('supervisor', id, { runtimeId: `runtime-dead-${k}`, pid: 40_000 + k, procStartTime: '777', startedAt: Date.now() });
    host.send(id, { type: 'STORE_READY' });
    host.send(id, { type: 'RESTORED', count: 0 });
  }
  for (let g = 0; g < groups; g++) {
    host.create('worker', `worker-${g}`, { workerId: `worker-${g}` });
    host.create('lease', `m${g}@lease-1`, { leaseId: `m${g}@lease-1`, milestoneId: `m${g}`, workerId: `worker-${g}`, ttlMs: 30_000 });
  }
  await settle();
  for (let g = 0; g < groups; g++) {
    const lease = host.get(`m${g}@lease-1`).actor.getSnapshot().context;
    host.send(`worker-${g}`, { type: 'LEASE_GRANTED', milestoneId: `m${g}`, leaseId: lease.leaseId, fencingToken: lease.fencingToken });
    const base = { milestoneId: `m${g}`, messageId: null };
    host.create('dispatch', `m${g}/unit-1#1`, { ...base, dispatchId: `m${g}/unit-1#1`, unitId: `m${g}/unit-1`, attempt: 1, notBefore: g % 4 === 3 ? future : null });
    host.create('dispatch', `m${g}/unit-2#2`, { ...base, dispatchId: `m${g}/unit-2#2`, unitId: `m${g}/unit-2`, attempt: 2, notBefore: future });
  }
  await settle();
  for (let g = 0; g < groups; g++) {
    if (g % 4 > 1) continue;
    const token = host.get(`m${g}@lease-1`).actor.getSnapshot().context.fencingToken;
    const turn = assignment(g, `worker-${g}`, token);
    if (g % 4 === 0) startTurns.add(turn.dispatchId);
    host.send(turn.dispatchId, { type: 'CLAIM', workerId: `worker-${g}`, fencingToken: token });
    host.send(`worker-${g}`, { type: 'ASSIGN', turn });
  }
  await settle();
  for (let g = 0; g < groups; g += 4) {
    const started = host.get(`worker-${g}`).actor.getSnapshot().context.started;
    host.send(`m${g}/unit-1#1`, { type: 'START', started });
  }
  await settle();
  await host.committed();
  if (errors.length > 0) throw new Error(`populate: ${errors.slice(0, 3).join('; ')}`);
  const states = db.prepare("SELECT kind, state, count(*) AS n FROM actors WHERE status = 'active' GROUP BY kind, state ORDER BY kind, state").all();
  const active = states.reduce((sum, row) => sum + row.n, 0);
  if (active !== total) throw new Error(`populate: ${active} active actors, expected ${total}: ${JSON.stringify(states)}`);
  host.detachAll();
  await store.close();
  return states;
}

/** What RuntimeImpl.restore does with the rows a runtime owns (unreadable rows are quarantined). */
async function restoreOwned(store, host) {
  const records = await store.listOwnedActors(OWNER);
  let quarantined = 0;
  for (const record of records) {
    if (host.get(record.id) !== undefined) continue;
    try {
      const hosted = host.restore(record);
      if (record.kind === 'supervisor') host.send(hosted.id, { type: 'RUNTIME_GONE', reason: 'taken over by the benchmark' });
    } catch (error) {
      await store.quarantineActor(record.id, error.message, Date.now());
      quarantined++;
    }
  }
  return { count: records.length, quarantined };
}

/** Heap in use after two full collections; 0 when profiling (forced collections would dominate the profile). */
let measureHeap = true;
function heap() {
  if (!measureHeap) return 0;
  globalThis.gc();
  globalThis.gc();
  return process.memoryUsage().heapUsed;
}

/** Populates the store in a child process (asynchronously, so a profile of this one shows it idle). */
function populateInChild(file, total) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...snapshotExecArgv(), fileURLToPath(import.meta.url), '--populate', file, String(total)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(stdout)) : reject(new Error(`populate failed (${code}): ${stderr}`))));
  });
}

/** One runtime round on a fresh copy of the populated store: ms, heap bytes kept per actor. */
async function runtimeRound(populated, dir, definitions, round) {
  const file = path.join(dir, `round-${round}.db`);
  copyFileSync(populated, file);
  const store = SqliteStore.fromPath(file);
  const errors = [];
  // As createRuntime builds it: with group commit where the runtime has it.
  const host = GROUP_COMMIT
    ? new ActorHost(store, systemClock, definitions, hooksInto(errors), { groupCommit: true })
    : new ActorHost(store, systemClock, definitions, hooksInto(errors));
  host.owner = OWNER;
  const before = heap();
  const start = performance.now();
  const { count, quarantined } = await restoreOwned(store, host);
  // The restore is done when its writes (RUNTIME_GONE of dead supervisors) are committed.
  await host.committed();
  const ms = since(start);
  const after = heap();
  if (quarantined > 0 || errors.length > 0) throw new Error(`restore: ${quarantined} quarantined; ${errors.slice(0, 3).join('; ')}`);
  const live = host.list().filter((hosted) => !hosted.ended).length;
  if (live !== count - SUPERVISORS) throw new Error(`restore: ${live} live actors, expected ${count - SUPERVISORS}`);
  // Teardown is not part of a restore: when profiling, leave the actors to the garbage
  // collector (their effects hold no timer) and the file to the process exit.
  if (!measureHeap) return { ms, bytesPerActor: 0, count };
  host.detachAll();
  await store.close();
  rmSync(file, { force: true });
  for (const suffix of ['-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
  return { ms, bytesPerActor: (after - before) / count, count };
}

/** One bare round: JSON.parse each snapshot, then createActor(machine, { snapshot }).start(). */
function bareRound(rows, machines) {
  const before = heap();
  const parseStart = performance.now();
  let parsed = rows.map((row) => ({ kind: row.kind, snapshot: JSON.parse(row.snapshot) }));
  const parseMs = since(parseStart);
  const start = performance.now();
  const actors = parsed.map(({ kind, snapshot }) => createActor(machines[kind], { snapshot }).start());
  const ms = since(start);
  parsed = null;
  const after = heap();
  const failed = actors.filter((actor) => actor.getSnapshot().status !== 'active').length;
  if (failed > 0) throw new Error(`bare restore: ${failed} actors not active`);
  for (const actor of actors) actor.stop();
  return { ms, parseMs, bytesPerActor: (after - before) / actors.length };
}

async function main({ quick, profile, size }) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const total = size ?? (quick ? 1_000 : 100_000);
  const rounds = profile ? 3 : quick ? 3 : 5;
  const tmp = tempDir('restore');
  try {
    const populated = path.join(tmp.dir, 'populated.db');
    measureHeap = !profile;
    const states = await populateInChild(populated, total);
    const definitions = idleDefinitions();
    const machines = Object.fromEntries(Object.entries(definitions).map(([kind, d]) => [kind, d.machine]));
    const reader = SqliteStore.fromPath(populated);
    const rows = (await reader.listOwnedActors(OWNER)).map((record) => ({ kind: record.kind, snapshot: record.snapshot }));
    await reader.close();
    // Warm-up, twice each: restoring 10,000 actors keeps getting faster for a few rounds (JIT, heap sizing).
    for (const round of ['warmup-1', 'warmup-2']) {
      await runtimeRound(populated, tmp.dir, definitions, round);
      if (!profile) bareRound(rows, machines);
    }
    const runtime = [];
    const bare = [];
    for (let round = 0; round < rounds; round++) {
      await nextMacrotask();
      if (profile) {
        runtime.push(await runtimeRound(populated, tmp.dir, definitions, round));
        continue;
      }
      if (round % 2 === 0) {
        bare.push(bareRound(rows, machines));
        runtime.push(await runtimeRound(populated, tmp.dir, definitions, round));
      } else {
        runtime.push(await runtimeRound(populated, tmp.dir, definitions, round));
        bare.push(bareRound(rows, machines));
      }
    }
    if (profile) return { profiled: `${rounds} restores of ${total} actors` };
    const runtimeMs = median(runtime.map((r) => r.ms));
    const bareMs = median(bare.map((r) => r.ms));
    const bareParseMs = median(bare.map((r) => r.ms + r.parseMs));
    const timeRatio = median(runtime.map((r, i) => r.ms / bare[i].ms));
    const runtimeBytes = median(runtime.map((r) => r.bytesPerActor));
    const bareBytes = median(bare.map((r) => r.bytesPerActor));
    const perActor = (ms) => num((ms * 1000) / total, 1);
    return {
      id: 3,
      title: `Restore ${num(total)} persisted actors`,
      tables: [
        {
          title: `Median of ${rounds} rounds after a warm-up, alternating; ratio = median of per-round runtime/bare time`,
          columns: ['variant', 'actors', 'total', 'µs per actor', 'heap per actor', 'time vs bare'],
          rows: [
            ['bare createActor(machine, { snapshot }).start() (snapshots parsed beforehand)', num(total), `${num(bareMs, 1)} ms`, perActor(bareMs), kib(bareBytes), ''],
            ['bare, JSON.parse included', num(total), `${num(bareParseMs, 1)} ms`, perActor(bareParseMs), '', ratio(bareParseMs / bareMs)],
            ['runtime: listOwnedActors + ActorHost.restore (+ RUNTIME_GONE to dead supervisors)', num(total), `${num(runtimeMs, 1)} ms`, perActor(runtimeMs), kib(runtimeBytes), ratio(timeRatio)],
          ],
        },
        {
          title: 'Actors restored, by kind and state (written through ActorHost + SqliteStore)',
          columns: ['kind', 'state', 'actors'],
          align: ['left', 'left', 'right'],
          rows: states.map((row) => [row.kind, row.state, num(row.n)]),
        },
      ],
      targets: [
        target(`B4 restore of ${num(total)} mixed actors / bare createActor`, timeRatio, '<=', 1.3),
        target('B4 heap per restored actor', runtimeBytes, '<=', 8 * 1024, kib),
      ],
      notes: [
        'Effects are no-ops (invoked promises never settle, callbacks do nothing; machine.provide), the same machine objects on both sides: this measures the runtime, not turn processes, timers or lease renewals.',
        'runtime: what RuntimeImpl.restore does — store.listOwnedActors (one SELECT), then for each row ActorHost.restore (machine id/version check, JSON.parse, zod shape check, createActor with the inspection hook that persists, start); the 8 supervisors of dead runtimes are sent RUNTIME_GONE (8 persisted transitions; ' + (GROUP_COMMIT ? 'the host uses group commit, as createRuntime does, and the timing includes awaiting that commit' : 'one commit each') + '). Each round restores a fresh copy of the populated store file.',
        `Groups of four actors per milestone: ${VARIANTS.map((v, i) => `${i}: ${v}`).join('; ')}; each group also has its lease (held) and a retry of a second unit in pending.backoff.`,
        'Heap per actor: process.memoryUsage().heapUsed after two gc() calls, after minus before, divided by the actors restored. runtime: from before reading the rows to after the restore (rows dropped; ActorHost keeps actors, their contexts and the last snapshot JSON of each); bare: from before JSON.parse (the JSON text was already in memory) to after start, parsed objects dropped.',
      ],
      details: { total, runtime, bare },
    };
  } finally {
    tmp.remove();
  }
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self && process.argv[2] === '--populate') {
  populate(process.argv[3], Number(process.argv[4])).then(
    (states) => process.stdout.write(JSON.stringify(states)),
    (error) => {
      process.stderr.write(`${error.stack ?? error}\n`);
      process.exitCode = 1;
    },
  );
} else if (process.argv[1] === self) {
  runBenchmark(main);
}
