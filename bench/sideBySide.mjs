// Two builds of statecrew measured side by side from one parent process, alternating round by
// round, for the ratios that differ less between builds than between runs (not part of
// `npm run bench`):
//
//   node bench/sideBySide.mjs transitions <old checkout> <new checkout> [rounds = 12]
//   node bench/sideBySide.mjs claims <old checkout> <new checkout> [rounds = 8] [milestones = 500]
//
// A checkout is the folder of a built statecrew (dist/ present, node_modules reachable).
//
// transitions: benchmark 1's one-transaction-per-transition path (20,000 events to one actor at
// durability normal) of both builds in this process, against one in-memory run of the same
// machine: the ratio's denominator is then the same for both, not a property of each build's
// benchmark process (its heap, what ran before). The order of the three variants rotates.
//
// claims: benchmark 4's lease rounds (1 and 4 processes claiming 20 units per milestone), each
// build's own claimers, alternating which build goes first. A checkout whose bench/claims.mjs
// does not export `round` (6f36d33) gets a copy with it exported, bench/claims.export.mjs.
//
// Prints one JSON line per build and one comparing them: per-round values, medians, and in how
// many rounds the new build was faster.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [mode, oldDir, newDir, ...rest] = process.argv.slice(2);
if (!['transitions', 'claims'].includes(mode) || oldDir === undefined || newDir === undefined) {
  throw new Error('usage: node bench/sideBySide.mjs transitions|claims <old checkout> <new checkout> [rounds] [milestones]');
}
const load = (dir, file) => import(pathToFileURL(path.resolve(dir, file)).href);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `statecrew-sidebyside-${mode}-`));

try {
  if (mode === 'transitions') await transitions(Number(rest[0] ?? 12));
  else await claims(Number(rest[0] ?? 8), Number(rest[1] ?? 500));
} finally {
  fs.rmSync(tmp, { recursive: true, force: true });
}

async function transitions(rounds) {
  const { workerLikeEvents } = await load(newDir, 'bench/lib/workerLike.mjs');
  const events = workerLikeEvents(20_000);
  const hostOf = async (dir, label) => {
    const bench = await load(dir, 'bench/transitions.mjs');
    const { SqliteStore } = await load(dir, 'dist/persistence/sqliteStore.js');
    const store = SqliteStore.fromPath(path.join(tmp, `${label}.db`), { durability: 'normal' });
    // Without group commit each transition is its own transaction (6f36d33 ignores the option: it had none).
    const host = await bench.createBenchHost(store, { groupCommit: false });
    return (id) => bench.runHosted(host, events, id);
  };
  const { runInMemory } = await load(newDir, 'bench/transitions.mjs');
  const run = { memory: async (id) => runInMemory(events, id), old: await hostOf(oldDir, 'old'), new: await hostOf(newDir, 'new') };
  for (const variant of Object.keys(run)) await run[variant](`warmup-${variant}`);
  const orders = [
    ['memory', 'old', 'new'],
    ['new', 'old', 'memory'],
    ['old', 'memory', 'new'],
    ['new', 'memory', 'old'],
    ['memory', 'new', 'old'],
    ['old', 'new', 'memory'],
  ];
  const ms = { memory: [], old: [], new: [] };
  for (let round = 0; round < rounds; round++) {
    for (const variant of orders[round % orders.length]) {
      await new Promise((resolve) => setImmediate(resolve));
      ms[variant].push(await run[variant](`${variant}-${round}`));
    }
  }
  const us = (list) => list.map((t) => +((t * 1000) / events.length).toFixed(1));
  for (const build of ['old', 'new']) {
    const ratios = ms[build].map((t, i) => ms.memory[i] / t);
    console.log(JSON.stringify({ build, usPerTransition: us(ms[build]), medianUs: us([median(ms[build])])[0], medianRatioToMemory: +median(ratios).toFixed(4) }));
  }
  console.log(JSON.stringify({ memoryUs: us(ms.memory), rounds, newFasterRounds: ms.new.filter((t, i) => t < ms.old[i]).length }));
}

async function claims(rounds, milestones) {
  const roundOf = async (dir) => {
    const file = path.resolve(dir, 'bench/claims.mjs');
    const module = await import(pathToFileURL(file).href);
    if (typeof module.round === 'function') return module.round;
    const copy = path.resolve(dir, 'bench/claims.export.mjs');
    fs.writeFileSync(copy, fs.readFileSync(file, 'utf8').replace(/^async function round\(/m, 'export async function round('));
    return (await import(pathToFileURL(copy).href)).round;
  };
  const builds = { old: await roundOf(oldDir), new: await roundOf(newDir) };
  const units = milestones * 20;
  const ms = { old: { 1: [], 4: [] }, new: { 1: [], 4: [] } };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
    for (const processes of round % 2 === 0 ? [1, 4] : [4, 1]) {
      for (const build of order) ms[build][processes].push((await builds[build](tmp, `${build}-${processes}-${round}`, processes, milestones, 'lease')).wallMs);
    }
  }
  const rate = (t) => Math.round((units * 1000) / t);
  for (const build of ['old', 'new']) {
    const ratios = ms[build][4].map((t, i) => ms[build][1][i] / t);
    console.log(
      JSON.stringify({
        build,
        claimsPerSecond1: ms[build][1].map(rate),
        claimsPerSecond4: ms[build][4].map(rate),
        ratios4to1: ratios.map((r) => +r.toFixed(3)),
        medianRatio: +median(ratios).toFixed(3),
        medianClaimsPerSecond1: rate(median(ms[build][1])),
        medianClaimsPerSecond4: rate(median(ms[build][4])),
      }),
    );
  }
  const faster = (processes) => ms.new[processes].filter((t, i) => t < ms.old[processes][i]).length;
  console.log(JSON.stringify({ rounds, units, newFaster1: faster(1), newFaster4: faster(4) }));
}
