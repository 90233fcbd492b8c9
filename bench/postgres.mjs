// Benchmark 6: the PostgreSQL store, on a throwaway server on this machine (scripts/pgServer.mjs,
// loopback): the cost of a transition inside a job against SQLite, claims per second from 1, 4
// and 8 processes, and hosts: 1,000 units of a 200 ms sleep on 1 host × 8 workers against
// 2 hosts × 8 workers (each host a process of its own running createRuntime).
import { fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PostgresStore } from '../dist/persistence/postgres/pgStore.js';
import { SqliteStore } from '../dist/persistence/sqliteStore.js';
import { parsePlan } from '../dist/src/plan/load.js';
import { createRuntime } from '../dist/src/runtime.js';
import { startPgServer } from '../scripts/pgServer.mjs';
import { round as claimRound, summary as claimSummary, UNITS_PER_MILESTONE } from './claims.mjs';
import { runBenchmark, tempDir } from './lib/child.mjs';
import { median, num, ratio, since, target } from './lib/stats.mjs';
import { createBenchHost, runHostedGrouped } from './transitions.mjs';
import { workerLikeEvents } from './lib/workerLike.mjs';

const HOST_WORKERS = 8;
const SLEEP_MS = 200;

/** µs per transition of `events.length` transitions sent `perJob` at a time to one hosted actor, each lot one job. */
async function perTransition(store, events, label, perJob) {
  const bench = await createBenchHost(store);
  const ms = await runHostedGrouped(bench, store, events, `worker-${label}-${perJob}`, perJob);
  return (ms * 1000) / (events.length + 1);
}

/** One host: createRuntime on `url` with the plan in `planFile`, until the plan is done; sends its wall time. */
async function host({ url, planFile, logsDir, record }) {
  const plan = record ? parsePlan(await import('node:fs').then((fs) => fs.readFileSync(planFile, 'utf8')), { file: planFile, cwd: path.dirname(planFile) }) : undefined;
  const runtime = createRuntime({ store: url, logsDir });
  process.send({ type: 'ready' });
  await new Promise((resolve) => process.once('message', resolve));
  const start = performance.now();
  await runtime.start(plan);
  // Started: its plan is recorded, so other hosts can take it from the store.
  process.send({ type: 'started' });
  const result = await runtime.finished;
  const ms = since(start);
  await runtime.store.close();
  process.send({ type: 'done', ms, exitCode: result.exitCode, reason: result.reason, completed: [...result.progress.units.values()].filter((u) => u.state === 'completed').length });
}

/** Writes a plan of `units` units of `sleep 0.2` in 20 milestones on `url`. */
function writeSleepPlan(fs, dir, label, url, units) {
  const milestones = 20;
  const document = {
    version: 1,
    workers: HOST_WORKERS,
    store: url,
    defaults: { maxAttempts: 1 },
    milestones: Array.from({ length: milestones }, (_, m) => ({
      id: `m${m}`,
      units: Array.from({ length: units / milestones }, (_, u) => ({ id: `m${m}/u${u}`, command: ['sleep', String(SLEEP_MS / 1000)] })),
    })),
  };
  const file = path.join(dir, `${label}.yaml`);
  fs.writeFileSync(file, JSON.stringify(document));
  return file;
}

/** Runs the sleep plan on `hosts` host processes sharing one fresh schema; resolves with the wall time (ms) until all are done. */
async function hostsRound(dir, baseUrl, label, hosts, units) {
  const fs = await import('node:fs');
  const url = `${baseUrl}?schema=hosts_${label}`;
  const planFile = writeSleepPlan(fs, dir, label, url, units);
  // The first host records the plan before the others start (they take it from the store).
  const first = await startHost({ url, planFile, logsDir: path.join(dir, `${label}-logs-0`), record: true });
  const others = await Promise.all(Array.from({ length: hosts - 1 }, (_, i) => startHost({ url, planFile, logsDir: path.join(dir, `${label}-logs-${i + 1}`), record: false })));
  const all = [first, ...others];
  const cpuBefore = machineCpu();
  const start = performance.now();
  first.go();
  await first.recorded;
  for (const other of others) other.go();
  const results = await Promise.all(all.map((h) => h.done));
  const ms = since(start);
  const cpuAfter = machineCpu();
  const busy = (cpuAfter.busy - cpuBefore.busy) / (cpuAfter.total - cpuBefore.total);
  for (const result of results) if (result.exitCode !== 0) throw new Error(`host of ${label} exited ${result.exitCode}: ${result.reason}`);
  const completed = results.reduce((sum, r) => sum + r.completed, 0);
  const store = new PostgresStore(url, { readonly: true });
  const dispatches = await store.listDispatches();
  await store.close();
  const done = dispatches.filter((d) => d.state === 'completed');
  if (done.length !== units || new Set(done.map((d) => d.unitId)).size !== units) throw new Error(`${label}: ${done.length} completed dispatches for ${units} units`);
  return { ms, rate: (units * 1000) / ms, completedReported: completed, attempts: dispatches.length, machineBusy: busy, cpuMsPerUnit: ((cpuAfter.busy - cpuBefore.busy) / units) };
}

/** CPU time of the whole machine since boot, in ms: busy (all but idle and iowait) and total, over every core. */
function machineCpu() {
  let busy = 0;
  let total = 0;
  for (const cpu of os.cpus()) {
    const { user, nice, sys, idle, irq } = cpu.times;
    busy += user + nice + sys + irq;
    total += user + nice + sys + idle + irq;
  }
  return { busy, total };
}

const self = fileURLToPath(import.meta.url);

/** Forks one host process; `go()` starts it, `recorded` resolves once it started (its plan is in the store), `done` with its result. */
async function startHost(options) {
  const child = fork(self, ['--host', JSON.stringify(options)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = (type) => new Promise((resolve, reject) => {
    const onMessage = (message) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      resolve(message);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`host exited with ${code} before '${type}'`)));
  });
  await next('ready');
  const recorded = next('started');
  const done = next('done');
  return { go: () => child.send({ type: 'go' }), recorded, done };
}

async function main({ quick, profile }) {
  if (profile) return { profiled: 'nothing: the PostgreSQL benchmark has no profiled side' };
  const server = await startPgServer({ settings: { max_connections: '300' } });
  const tmp = tempDir('postgres');
  try {
    const base = server.url;
    // 1. A transition inside a job.
    const events = workerLikeEvents(quick ? 600 : 3_000);
    const rows = [];
    const costs = {};
    for (const perJob of [1, 30]) {
      const sqlite = SqliteStore.fromPath(path.join(tmp.dir, `transitions-${perJob}.db`));
      const pg = new PostgresStore(`${base}?schema=transitions_${perJob}`);
      await pg.ready();
      const samples = { sqlite: [], pg: [] };
      for (let r = 0; r < 3; r++) {
        samples.sqlite.push(await perTransition(sqlite, events, `s${r}`, perJob));
        samples.pg.push(await perTransition(pg, events, `p${r}`, perJob));
      }
      await sqlite.close();
      await pg.close();
      costs[perJob] = { sqlite: median(samples.sqlite), pg: median(samples.pg) };
      rows.push([`${perJob} per job`, `${num(costs[perJob].sqlite, 1)} µs`, `${num(costs[perJob].pg, 1)} µs`, ratio(costs[perJob].pg / costs[perJob].sqlite)]);
    }

    // 2. Claims from 1, 4 and 8 processes.
    const milestones = quick ? 20 : 100;
    const units = milestones * UNITS_PER_MILESTONE;
    await claimRound(tmp.dir, 'pgwarm', 1, 5, 'lease', base);
    const claims = { 1: [], 4: [], 8: [] };
    const claimBusy = { 1: [], 4: [], 8: [] };
    const rounds = quick ? 1 : 3;
    for (let r = 0; r < rounds; r++) {
      for (const processes of r % 2 === 0 ? [1, 4, 8] : [8, 4, 1]) {
        const before = machineCpu();
        claims[processes].push(await claimRound(tmp.dir, `pg_${processes}_${r}`, processes, milestones, 'lease', base));
        const after = machineCpu();
        claimBusy[processes].push((after.busy - before.busy) / (after.total - before.total));
      }
    }
    const claimStats = Object.fromEntries([1, 4, 8].map((p) => [p, claimSummary(claims[p], p, units)]));
    const paired = (p) => median(claims[p].map((run, i) => claims[1][i].wallMs / run.wallMs));
    const doubles = [...claims[1], ...claims[4], ...claims[8]].reduce((sum, run) => sum + run.check.doubleClaims, 0);

    // 3. Hosts.
    const sleeps = quick ? 200 : 1_000;
    const oneHost = await hostsRound(tmp.dir, base, 'one', 1, sleeps);
    const twoHosts = await hostsRound(tmp.dir, base, 'two', 2, sleeps);
    const oneHostAgain = await hostsRound(tmp.dir, base, 'one_again', 1, sleeps);
    const oneRate = median([oneHost.rate, oneHostAgain.rate]);
    const hostsRatio = twoHosts.rate / oneRate;

    return {
      id: 6,
      title: 'PostgreSQL store',
      tables: [
        {
          title: `A transition inside a job: ${num(events.length + 1)} transitions of the worker-like machine to one hosted actor, median of 3 alternating rounds; SQLite WAL synchronous=NORMAL on a file, PostgreSQL on loopback (commit_job, one round trip per job)`,
          columns: ['transitions per job', 'SQLite', 'PostgreSQL', 'PostgreSQL / SQLite'],
          rows,
        },
        {
          title: `Claims on PostgreSQL: ${num(units)} units in ${milestones} milestones of ${UNITS_PER_MILESTONE}, a fresh schema per round; median of ${rounds} rounds, alternating; ratio = median of per-round 1-process/N-process wall time`,
          columns: ['processes', 'wall', 'claims/s', 'CPU busy (claimers)', 'machine CPU busy', 'leases granted', 'leases refused', 'units skipped', 'create conflicts', 'vs 1 process'],
          rows: [1, 4, 8].map((p) => {
            const s = claimStats[p];
            const busy = median(claimBusy[p]);
            return [String(p), `${num(s.wall)} ms`, num(s.rate), `${num(100 * s.cpu)} %`, `${num(100 * busy)} %`, num(s.granted), num(s.refused), num(s.skipped), num(s.conflicts), p === 1 ? '' : ratio(paired(p))];
          }),
        },
        {
          title: `Hosts: ${num(sleeps)} units of \`sleep ${SLEEP_MS / 1000}\`, ${HOST_WORKERS} workers per host, each host a process of its own (createRuntime on the same schema)`,
          columns: ['variant', 'wall', 'units/s', 'dispatches', 'machine CPU busy', 'CPU per unit (whole machine)'],
          rows: [
            ['1 host × 8 workers', oneHost],
            ['2 hosts × 8 workers', twoHosts],
            ['1 host × 8 workers, again', oneHostAgain],
          ].map(([label, r]) => [label, `${num(r.ms)} ms`, num(r.rate, 1), num(r.attempts), `${num(100 * r.machineBusy)} %`, `${num(r.cpuMsPerUnit)} ms`]),
        },
      ],
      targets: [
        target('B9 PostgreSQL: claims/s, 8 processes / 1 process', paired(8), '>=', 3),
        target('B9 PostgreSQL: double claims found in the store (all rounds)', doubles, '<=', 0, (v) => num(v)),
        target('(issue 11) units/s, 2 hosts × 8 / 1 host × 8 (median of the two 1-host runs)', hostsRatio, '>=', 1.8),
      ],
      notes: [
        'What limits the claims figure: one claiming process and its server backend already keep about one of the two cores busy (machine CPU busy, above: the claimer\'s own share is in the column before it); with 4 or 8 the machine is saturated, and the extra processes only queue for the CPU and meet each other\'s leases. Claims scale with processes only while the server has cores to spare.',
        'What limits the hosts figure: the machine\'s CPU, not the store. With 8 workers one host already keeps both cores busy (the column above): the runtime process spends its CPU on every unit\'s ~9 persisted transitions (on the server, over loopback), its scheduler passes and each turn\'s start and end (the shim is a small C program, started by the turn spawner); a second host on the same 2 cores has no CPU left to add. The 1.8× target needs hosts with CPU of their own.',
        'Everything runs on this one 2-core machine: the server, every claiming process and every host. Claims from 8 processes and 2 hosts × 8 workers compete for the same 2 cores as the server; on separate machines the server has them to itself.',
        'A claim is made as in benchmark 4 (lease by compare-and-set, dispatch created against the partial unique index, CLAIM fenced by the token), against the PostgreSQL store; the store is checked after every round with the same queries as on SQLite.',
        'Hosts: the second host starts once the first one has started (its plan recorded); the wall time runs from the first start to the last host finished. Each unit is a `sleep` under the turn shim.',
      ],
      details: { costs, claims: Object.fromEntries(Object.entries(claims).map(([p, runs]) => [p, runs.map((r) => ({ wallMs: r.wallMs, check: r.check }))])), hosts: { oneHost, twoHosts, oneHostAgain } },
    };
  } finally {
    tmp.remove();
    await server.stop();
  }
}

if (process.argv[1] === self && process.argv[2] === '--host') {
  host(JSON.parse(process.argv[3])).catch((error) => {
    process.stderr.write(`${error.stack ?? error}\n`);
    process.exit(1);
  });
} else if (process.argv[1] === self) {
  runBenchmark(main);
}
