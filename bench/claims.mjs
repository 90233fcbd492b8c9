// Benchmark 4: dispatch claims under contention. K processes (1 or 4) share one store and
// claim 10,000 units the way a runtime does: take the milestone's lease (compare-and-set on
// the lease ledger, fencing token), then for each unit of it create the unit's dispatch actor
// (refused by the store when the unit already has an active dispatch: actor id and the
// partial unique index) and record CLAIM (a write fenced by the lease's token). Afterwards
// the store itself is checked for double claims.
import { fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ActorHost } from '../dist/src/actorHost.js';
import { systemClock } from '../dist/core/clock.js';
import { DispatchConflictError } from '../dist/core/errors.js';
import { createDeadline } from '../dist/actors/deadline.js';
import { DISPATCH_MACHINE_ID, DISPATCH_MACHINE_VERSION, dispatchMachine } from '../dist/machines/dispatch.js';
import Database from 'better-sqlite3';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { PostgresStore } from '../dist/persistence/postgres/pgStore.js';
import { runBenchmark, tempDir } from './lib/child.mjs';
import { median, num, ratio, target } from './lib/stats.mjs';

export const UNITS_PER_MILESTONE = 20;

/** One claiming process: a registered runtime with an ActorHost hosting dispatch actors. */
async function claimer({ file, url, index, processes, milestones, mode }) {
  const store = url === undefined ? SqliteStore.fromPath(file) : new PostgresStore(url);
  await store.ready();
  const runtimeId = `runtime-${await store.reserveSequence('runtime', 1)}`;
  await store.registerRuntime({ id: runtimeId, host: 'bench', hostId: 'bench', pid: process.pid, procStartTime: null, now: Date.now(), ttlMs: 3_600_000 });
  const workerId = `worker-of-${runtimeId}`;
  // As createRuntime builds it: jobs committed together, effects awaiting the commit.
  const groupCommit = true;
  const holder = {};
  const deadline = createDeadline(systemClock, () => holder.host.committed());
  const dispatch = { kind: 'dispatch', machine: dispatchMachine.provide({ actors: deadline }), machineId: DISPATCH_MACHINE_ID, machineVersion: DISPATCH_MACHINE_VERSION };
  const waiting = new Map();
  const persistErrors = [];
  const hooks = {
    onTransition: (transition) => {
      if (transition.to === 'pending.ready') waiting.get(transition.actorId)?.('ready');
    },
    // A refused job: its dispatch was created by another process first (the unique index decided).
    onJobFailed: (error, detached) => {
      if (!(error instanceof DispatchConflictError)) persistErrors.push(`${detached.map((actor) => actor.id).join(', ')}: ${error.message}`);
      for (const actor of detached) waiting.get(actor.id)?.('refused');
    },
  };
  const definitions = { dispatch, worker: dispatch, lease: dispatch, supervisor: dispatch };
  const host = new ActorHost(store, systemClock, definitions, hooks, { groupCommit: true });
  holder.host = host;
  host.owner = runtimeId;
  const stats = { claimed: [], conflicts: 0, skipped: 0, leaseRefused: 0, leaseGranted: 0, milestonesDone: 0 };

  /** Creates the unit's dispatch and claims it under `fencingToken`; false when another process has it. */
  const claimUnit = async (milestoneId, unitId, fencingToken) => {
    // As the scheduler does: the unit's dispatch rows say whether there is anything to claim.
    if ((await store.listDispatches(unitId)).length > 0) {
      stats.skipped++;
      return;
    }
    const id = `${unitId}#1`;
    const ready = new Promise((resolve) => waiting.set(id, resolve));
    host.create('dispatch', id, { dispatchId: id, unitId, milestoneId, attempt: 1, notBefore: null, messageId: null });
    // The durable deadline (in the past) resolves after the commit: pending.backoff → pending.ready.
    const outcome = await ready;
    waiting.delete(id);
    if (outcome === 'refused') {
      stats.conflicts++;
      return;
    }
    if (mode === 'lease') host.send(id, { type: 'CLAIM', workerId, fencingToken });
    // A claim counts once it is committed (at the end of this job).
    await host.committed();
    const hosted = host.get(id);
    const expected = mode === 'lease' ? 'claimed' : 'pending.ready';
    if (hosted === undefined || hosted.state !== expected) throw new Error(`${id} is ${hosted?.state ?? 'gone'}: ${persistErrors.join('; ')}`);
    stats.claimed.push(unitId);
    host.detach(id);
  };

  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));
  const cpu = process.cpuUsage();
  const start = performance.now();
  const offset = mode === 'lease' ? Math.floor((index * milestones) / processes) : 0;
  for (let i = 0; i < milestones; i++) {
    const milestoneId = `m${(offset + i) % milestones}`;
    let fencingToken = 0;
    if (mode === 'lease') {
      // As the scheduler: a milestone whose units all have their dispatch is not leased again
      // (units are claimed in order, so the last one having a dispatch means all have).
      if ((await store.listDispatches(`${milestoneId}/u${UNITS_PER_MILESTONE - 1}`)).length > 0) {
        stats.milestonesDone++;
        continue;
      }
      const lease = await store.claimLease({ milestoneId, holderId: workerId, leaseId: `${milestoneId}@${workerId}`, ttlMs: 60_000, now: Date.now() });
      if (!lease.granted) {
        stats.leaseRefused++;
        continue;
      }
      stats.leaseGranted++;
      fencingToken = lease.fencingToken;
    }
    for (let u = 0; u < UNITS_PER_MILESTONE; u++) await claimUnit(milestoneId, `${milestoneId}/u${u}`, fencingToken);
    if (mode === 'lease') await store.releaseLease({ milestoneId, fencingToken });
  }
  const wallMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  await store.close();
  process.send({ type: 'done', stats: { ...stats, runtimeId, groupCommit, wallMs, cpuMs: (used.user + used.system) / 1000, persistErrors } });
}

/**
 * Forks `processes` claimers on a fresh store, starts them together, and checks the store
 * afterwards. The store: a SQLite file in `dir`, or with `pgUrl` a fresh schema `claims_<label>`
 * of that PostgreSQL database (checked with {@link verifyPg}).
 */
export async function round(dir, label, processes, milestones, mode, pgUrl) {
  const file = path.join(dir, `${label}.db`);
  const url = pgUrl === undefined ? undefined : `${pgUrl}?schema=claims_${label.replace(/[^a-z0-9_]/gi, '_')}`;
  if (url === undefined) await SqliteStore.fromPath(file).close();
  else {
    const store = new PostgresStore(url);
    await store.ready();
    await store.close();
  }
  const self = fileURLToPath(import.meta.url);
  const children = Array.from({ length: processes }, (_, index) =>
    fork(self, ['--claimer', JSON.stringify({ file, url, index, processes, milestones, mode })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  const next = (child, type) =>
    new Promise((resolve, reject) => {
      const onMessage = (message) => {
        if (message.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(message);
      };
      const onExit = (code) => reject(new Error(`claimer exited with ${code} before '${type}'`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  await Promise.all(children.map((child) => next(child, 'ready')));
  const done = children.map((child) => next(child, 'done'));
  const start = performance.now();
  for (const child of children) child.send({ type: 'go' });
  const results = await Promise.all(done.map((promise) => promise.then((message) => ({ ...message.stats, endMs: performance.now() - start }))));
  const wallMs = Math.max(...results.map((r) => r.endMs));
  await Promise.all(children.map((child) => (child.exitCode !== null ? null : new Promise((resolve) => child.once('exit', resolve)))));
  const units = milestones * UNITS_PER_MILESTONE;
  return { wallMs, results, check: url === undefined ? verify(file, units, results, mode) : await verifyPg(url, units, results, mode) };
}

/** The store checks of {@link verify}, as SQL that SQLite and PostgreSQL both run; `$1` is the expected state. */
const CHECKS = {
  dispatchRows: 'SELECT count(*) AS n FROM dispatches',
  unitsWithDispatch: 'SELECT count(DISTINCT unit_id) AS n FROM dispatches',
  unitsWithSeveralDispatches: 'SELECT count(*) AS n FROM (SELECT unit_id FROM dispatches GROUP BY unit_id HAVING count(*) > 1) AS t',
  inExpectedState: 'SELECT count(*) AS n FROM dispatches WHERE state = $1',
  claimTransitions: "SELECT count(*) AS n FROM journal WHERE event_type = 'CLAIM'",
  dispatchesClaimedTwice: "SELECT count(*) AS n FROM (SELECT actor_id FROM journal WHERE event_type = 'CLAIM' GROUP BY actor_id HAVING count(*) > 1) AS t",
  tokensWithSeveralHolders: 'SELECT count(*) AS n FROM (SELECT milestone_id, fencing_token FROM dispatches GROUP BY milestone_id, fencing_token HAVING count(DISTINCT worker_id) > 1) AS t',
};

/** Reads the store after a round: exactly one dispatch per unit, claimed once, one holder per fencing token. */
function verify(file, units, results, mode) {
  const store = new Database(file, { fileMustExist: true });
  const active = mode === 'lease' ? 'claimed' : 'pending';
  const counts = Object.fromEntries(Object.entries(CHECKS).map(([key, sql]) => {
    const statement = store.prepare(sql.replace('$1', '?'));
    return [key, (sql.includes('$1') ? statement.get(active) : statement.get()).n];
  }));
  store.close();
  return judge(counts, units, results, mode);
}

/** {@link verify} on a PostgreSQL schema. */
async function verifyPg(url, units, results, mode) {
  const { default: pg } = await import('pg');
  const target = new URL(url);
  const schema = target.searchParams.get('schema');
  target.search = '';
  const client = new pg.Client({ connectionString: target.href, options: `-c search_path=${schema}` });
  await client.connect();
  const active = mode === 'lease' ? 'claimed' : 'pending';
  const counts = {};
  for (const [key, sql] of Object.entries(CHECKS)) counts[key] = Number((await client.query(sql, sql.includes('$1') ? [active] : [])).rows[0].n);
  await client.end();
  return judge(counts, units, results, mode);
}

function judge(counts, units, results, mode) {
  const check = { ...counts, claimedByProcesses: results.reduce((sum, r) => sum + r.claimed.length, 0), claimedByTwoProcesses: 0 };
  const seen = new Set();
  for (const r of results) {
    for (const unit of r.claimed) {
      if (seen.has(unit)) check.claimedByTwoProcesses++;
      seen.add(unit);
    }
  }
  const expectedClaims = mode === 'lease' ? units : 0;
  check.doubleClaims = check.unitsWithSeveralDispatches + check.dispatchesClaimedTwice + check.tokensWithSeveralHolders + check.claimedByTwoProcesses;
  check.ok =
    check.doubleClaims === 0 &&
    check.dispatchRows === units &&
    check.unitsWithDispatch === units &&
    check.inExpectedState === units &&
    check.claimTransitions === expectedClaims &&
    check.claimedByProcesses === units &&
    results.every((r) => r.persistErrors.length === 0);
  if (!check.ok) throw new Error(`store check failed: ${JSON.stringify(check)} ${JSON.stringify(results.map((r) => r.persistErrors.slice(0, 2)))}`);
  return check;
}

export function summary(rounds, processes, units) {
  const wall = median(rounds.map((r) => r.wallMs));
  const cpu = median(rounds.map((r) => r.results.reduce((sum, p) => sum + p.cpuMs, 0) / (r.wallMs * processes)));
  const sum = (key) => median(rounds.map((r) => r.results.reduce((total, p) => total + (Array.isArray(p[key]) ? p[key].length : p[key]), 0)));
  return { wall, rate: (units * 1000) / wall, cpu, conflicts: sum('conflicts'), skipped: sum('skipped'), refused: sum('leaseRefused'), granted: sum('leaseGranted') };
}

async function main({ quick, profile }) {
  const milestones = quick ? 50 : 500;
  const units = milestones * UNITS_PER_MILESTONE;
  const rounds = quick ? 1 : 3;
  const tmp = tempDir('claims');
  try {
    if (profile) {
      await round(tmp.dir, 'profile', 4, milestones, 'lease');
      return { profiled: `4 processes claiming ${units} units` };
    }
    await round(tmp.dir, 'warmup', 1, Math.min(milestones, 20), 'lease');
    const runs = { 1: [], 4: [] };
    for (let r = 0; r < rounds; r++) {
      for (const processes of r % 2 === 0 ? [1, 4] : [4, 1]) runs[processes].push(await round(tmp.dir, `lease-${processes}-${r}`, processes, milestones, 'lease'));
    }
    const race = { 1: await round(tmp.dir, 'race-1', 1, milestones, 'race'), 4: await round(tmp.dir, 'race-4', 4, milestones, 'race') };
    const one = summary(runs[1], 1, units);
    const four = summary(runs[4], 4, units);
    const raceOne = summary([race[1]], 1, units);
    const raceFour = summary([race[4]], 4, units);
    const paired = median(runs[4].map((run, i) => runs[1][i].wallMs / run.wallMs));
    const doubles = [...runs[1], ...runs[4], race[1], race[4]].reduce((sum, run) => sum + run.check.doubleClaims, 0);
    const row = (label, s, ratioText) => [label, num(units), `${num(s.wall)} ms`, num(s.rate), `${num(100 * s.cpu)} %`, num(s.granted), num(s.refused), num(s.skipped), num(s.conflicts), ratioText];
    return {
      id: 4,
      title: 'Dispatch claims under contention',
      tables: [
        {
          title: `${num(units)} units in ${milestones} milestones of ${UNITS_PER_MILESTONE}, one store (WAL, synchronous=NORMAL, a lock held by another process waited for up to 5 s); median of ${rounds} rounds, alternating; ratio = median of per-round 1-process/4-process wall time`,
          columns: ['variant', 'claims', 'wall', 'claims/s', 'CPU busy', 'leases granted', 'leases refused', 'units skipped', 'create conflicts', 'vs 1 process'],
          rows: [
            row('lease + dispatch, 1 process', one, ''),
            row('lease + dispatch, 4 processes', four, ratio(paired)),
            row('race on the unit (no lease), 1 process', raceOne, ''),
            row('race on the unit (no lease), 4 processes', raceFour, ratio(raceOne.wall / raceFour.wall)),
          ],
        },
      ],
      targets: [target('B9 SQLite: aggregate 4-process / 1-process claim rate', paired, '>=', 0.9), target('B9 SQLite: double claims found in the store (all rounds)', doubles, '<=', 0, (v) => num(v))],
      notes: [
        'A claim, as the runtime makes it: the milestone\'s lease by compare-and-set on the lease ledger (store.claimLease: a fencing token per new holder), then per unit: read its dispatch rows (as the scheduler does), ActorHost.create of its dispatch actor (refused with DispatchConflictError when the actor exists or the partial unique index `dispatches_one_active` already holds an active dispatch of the unit), its durable deadline (real `createDeadline`, already due) taking it to pending.ready, and CLAIM recorded under the lease\'s fencing token (refused if stale); the lease is released after the milestone. Three persisted transitions per unit, plus two ledger writes per milestone. ' + (runs[1][0].results[0].groupCommit ? 'The host uses group commit, as createRuntime does: pending.ready and CLAIM happen in one job and share a commit, so a claim is two commits; a claim counts once committed.' : 'Each transition is its own transaction.'),
        'Each process starts at its own offset in the milestone list and goes round it once, skipping milestones already fully claimed (their last unit has a dispatch: as the scheduler, it does not lease a finished milestone), milestones whose lease another process holds, and units that already have a dispatch. 4 processes therefore meet each other when they run into another one\'s range.',
        'race on the unit: no leases; every process walks every unit in the same order and tries to create its dispatch (pending): exclusivity comes only from the store refusing the second create. Claims are the units created, one per unit.',
        `Checked in the store after every round: one dispatch row per unit, every one ${'`claimed`'} (race: pending), one CLAIM journal row per dispatch, one worker per (milestone, fencing token), and no unit reported by two processes. Double claims found: ${doubles}.`,
        'CPU busy: user + system CPU time of the claiming processes divided by (processes × wall time); the rest is time waiting (mostly for the SQLite write lock: the store\'s lock wait, timers of 1 ms growing to 100 ms between attempts, as SQLite\'s own busy handler).',
      ],
      details: { units, milestones, lease: runs, race },
    };
  } finally {
    tmp.remove();
  }
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self && process.argv[2] === '--claimer') {
  claimer(JSON.parse(process.argv[3])).catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
} else if (process.argv[1] === self) {
  runBenchmark(main);
}
