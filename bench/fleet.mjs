// Benchmark 7: a fleet (B6 and B7 of docs/benchmarks.md). 5,000 units of `sleep 1` over 256
// workers through the real runtime (createRuntime + a plan, every transition persisted, every
// turn under the turn shim): wall time against the ideal (units × 1 s ÷ workers), the runtime's
// own CPU per unit and its peak RSS. Then, on the store that run left, what an operator looks at:
// `statecrew status --json` (the CLI, a process of its own) and the inspector's actor list
// (GET /api/actors), each timed end to end.
import { execFile, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePlan } from '../dist/src/plan/load.js';
import { createRuntime } from '../dist/src/runtime.js';
import { startInspector } from '../dist/src/inspector/server.js';
import { runBenchmark, tempDir } from './lib/child.mjs';
import { duration, median, num, ratio, since, target } from './lib/stats.mjs';

const CLI = fileURLToPath(new URL('../bin/statecrew.js', import.meta.url));
const MIB = 1024 * 1024;

/**
 * A plan of `units` units of `sleep <seconds>` over `workers` workers: one milestone per worker
 * (a worker runs one milestone's units in order), the units spread as evenly as they go.
 */
function planFor(dir, units, workers, seconds) {
  const milestones = Array.from({ length: workers }, (_, m) => ({ id: `m${m}`, units: [] }));
  for (let u = 0; u < units; u++) {
    const milestone = milestones[u % workers];
    milestone.units.push({ id: `${milestone.id}/u${milestone.units.length}`, command: ['sleep', String(seconds)] });
  }
  const document = { version: 1, workers, store: path.join(dir, 'fleet.db'), defaults: { maxAttempts: 1 }, milestones };
  // JSON is YAML: the plan goes through the same loader as `statecrew run plan.yaml`.
  return parsePlan(JSON.stringify(document), { file: path.join(dir, 'fleet.yaml'), cwd: dir });
}

async function runFleet(dir, units, workers, seconds) {
  const plan = planFor(dir, units, workers, seconds);
  let transitions = 0;
  const cpu = process.cpuUsage();
  const start = performance.now();
  const runtime = createRuntime({ store: plan.store, logsDir: path.join(dir, 'logs'), durability: 'normal' });
  runtime.events.on('actor.transition', () => {
    transitions++;
  });
  await runtime.start(plan);
  const result = await runtime.finished;
  const ms = since(start);
  const used = process.cpuUsage(cpu);
  await runtime.store.close();
  const completed = [...result.progress.units.values()].filter((unit) => unit.state === 'completed').length;
  if (result.exitCode !== 0 || completed !== units) throw new Error(`fleet run: exit code ${result.exitCode}, ${completed}/${units} completed: ${result.reason}`);
  return { ms, transitions, cpuMs: (used.user + used.system) / 1000, maxRssBytes: process.resourceUsage().maxRSS * 1024, store: plan.store };
}

/**
 * The machine's own floor for the same work: `units` runs of `sleep <seconds>` spawned straight
 * from this process (child_process.spawn, stdio ignored), at most `workers` at a time, nothing
 * persisted and no turn shim. Resolves with ms and this process's CPU ms.
 */
async function runBare(units, workers, seconds) {
  const cpu = process.cpuUsage();
  const start = performance.now();
  let next = 0;
  const lane = async () => {
    while (next < units) {
      next++;
      await new Promise((resolve, reject) => {
        const child = spawn('sleep', [String(seconds)], { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`sleep ended with exit code ${code}`))));
      });
    }
  };
  await Promise.all(Array.from({ length: workers }, lane));
  const used = process.cpuUsage(cpu);
  return { ms: since(start), cpuMs: (used.user + used.system) / 1000 };
}

/** `statecrew status --json` on `store`, a process of its own; resolves with ms and the units it listed. */
function timeStatus(store) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    execFile(process.execPath, [CLI, 'status', '--json', '--store', store], { maxBuffer: 256 * MIB }, (error, stdout) => {
      const ms = since(start);
      if (error !== null) reject(error);
      else resolve({ ms, units: JSON.parse(stdout).units.length });
    });
  });
}

/** The inspector's actor list (GET /api/actors) on `store`; resolves with ms (the request, not the server's start) and the actors listed. */
async function timeActorList(inspector) {
  const start = performance.now();
  const response = await globalThis.fetch(`http://127.0.0.1:${inspector.port}/api/actors?token=${inspector.token}`);
  const body = await response.json();
  const ms = since(start);
  if (response.status !== 200) throw new Error(`GET /api/actors answered ${response.status}`);
  return { ms, actors: body.actors.length };
}

async function main({ quick, profile }) {
  const units = quick ? 500 : 5_000;
  const workers = quick ? 64 : 256;
  const seconds = 1;
  const tmp = tempDir('fleet');
  try {
    const run = await runFleet(tmp.dir, units, workers, seconds);
    if (profile) return { profiled: `runtime running ${num(units)} units of \`sleep ${seconds}\` over ${workers} workers (${num(run.transitions)} transitions, ${duration(run.ms)})` };
    const ideal = (units * seconds * 1000) / workers;
    // The best a plan of whole units can do: the longest milestone's units back to back.
    const longest = Math.ceil(units / workers) * seconds * 1000;
    const bare = await runBare(units, workers, seconds);
    const status = [];
    for (let round = 0; round < 3; round++) status.push(await timeStatus(run.store));
    const inspector = await startInspector({ store: run.store });
    const lists = [];
    try {
      for (let round = 0; round < 3; round++) lists.push(await timeActorList(inspector));
    } finally {
      await inspector.close();
    }
    // Loaded only now: playwright-core in the process during the run would count in its peak RSS.
    const { startInspectProcess, timeInspectorPage } = await import('./lib/pageTimes.mjs');
    const inspect = await startInspectProcess(run.store);
    let pages;
    try {
      pages = await timeInspectorPage(inspect.url, workers, 3);
    } finally {
      await inspect.stop();
    }
    const statusMs = median(status.map((s) => s.ms));
    const listMs = median(lists.map((l) => l.ms));
    const fleetPageMs = median(pages.map((p) => p.fleetMs));
    const actorsPageMs = median(pages.map((p) => p.actorsMs));
    const milestonePageMs = median(pages.map((p) => p.milestoneMs));
    const cpuPerUnit = run.cpuMs / units;
    return {
      id: 7,
      title: `A fleet: ${num(units)} units of \`sleep ${seconds}\` over ${workers} workers, then status and the inspector on its store`,
      tables: [
        {
          title: 'The run (one round): wall time against the ideal, the runtime process\'s CPU and peak RSS',
          columns: ['units', 'workers', 'transitions', 'wall', 'ideal (units × 1 s ÷ workers)', 'wall / ideal', 'runtime CPU per unit', 'peak RSS'],
          rows: [[num(units), num(workers), num(run.transitions), duration(run.ms), duration(ideal), ratio(run.ms / ideal), `${num(cpuPerUnit, 1)} ms`, `${num(run.maxRssBytes / MIB)} MiB`]],
        },
        {
          title: 'The machine\'s floor, right after (one round): the same sleeps spawned straight from a Node process, as many at a time as workers, nothing persisted, no turn shim',
          columns: ['units', 'at a time', 'wall', 'wall / ideal', 'runtime wall / bare wall', 'CPU per unit (the spawning process)'],
          rows: [[num(units), num(workers), duration(bare.ms), ratio(bare.ms / ideal), ratio(run.ms / bare.ms), `${num(bare.cpuMs / units, 1)} ms`]],
        },
        {
          title: 'On the store that run left: median of 3 rounds each',
          columns: ['what', 'time', 'listed'],
          rows: [
            ['`statecrew status --json` (a process of its own: Node start, open, read, print)', duration(statusMs), `${num(status[0].units)} units`],
            ['inspector actor list (GET /api/actors, server already started)', duration(listMs), `${num(lists[0].actors)} actors`],
          ],
        },
        {
          title: `The inspector page in Chromium (\`statecrew inspect\` in a process of its own) on that store, from the click (or navigation) until drawn: median of 3 fresh pages (the first also lays out the plan graph: ${duration(pages[0].fleetMs)})`,
          columns: ['what', 'time', 'drawn'],
          rows: [
            ['fleet view: plan graph coloured by state and unit counts (navigation → drawn)', duration(fleetPageMs), `${num(pages[0].graphNodes)} milestones`],
            ['actor list, first page (click on the Actors tab → drawn)', duration(actorsPageMs), `${num(pages[0].actorRows)} rows of ${num(lists[0].actors)} actors`],
            ["a milestone's units (click on its box → listed)", duration(milestonePageMs), ''],
          ],
        },
      ],
      targets: [
        target('B6 wall time / ideal', run.ms / ideal, '<=', 1.15),
        target('B6 runtime CPU per unit', cpuPerUnit, '<=', 2, (v) => `${num(v, 1)} ms`),
        target('B6 runtime peak RSS', run.maxRssBytes / MIB, '<=', 300, (v) => `${num(v)} MiB`),
        target('B7 statecrew status --json', statusMs, '<=', 1_000, duration),
        target('B7 inspector actor list', listMs, '<=', 1_000, duration),
        target('B7 inspector fleet view in Chromium (plan graph and counts drawn)', fleetPageMs, '<=', 1_000, duration),
        target('B7 inspector actor list in Chromium (first page drawn)', actorsPageMs, '<=', 1_000, duration),
      ],
      notes: [
        `Plan: ${workers} milestones (one per worker) of ${Math.floor(units / workers)} or ${Math.ceil(units / workers)} units of \`sleep ${seconds}\` (coreutils), maxAttempts 1, loaded with parsePlan; run with createRuntime({ store, durability: 'normal' }) from start() to \`finished\` (exit code 0 and every unit completed are checked).`,
        `Ideal = units × ${seconds} s ÷ workers = ${duration(ideal)}; a plan of whole units cannot beat its longest milestone, ${duration(longest)} (${ratio(longest / ideal)} of the ideal).`,
        'The floor row shows what this machine allows before any runtime: each unit is at least one process created (the runtime\'s turns are two, the turn shim and the command), and process creation here costs about 4-5 ms of kernel time each (a bash loop of /bin/true: 4.3 ms per fork+exec+wait; a C loop of fork+exec of sleep: 3.5-4.8 ms), so 256 one-second units per second need more than a core for process creation alone.',
        'Runtime CPU per unit: user + system CPU time of the benchmark process (the runtime) per unit; the turn shims and the sleeps run in processes of their own. Peak RSS: the process\'s maxRSS (getrusage).',
      ],
      details: { units, workers, seconds, run, bare, idealMs: ideal, status, lists, pages },
    };
  } finally {
    tmp.remove();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) runBenchmark(main);
