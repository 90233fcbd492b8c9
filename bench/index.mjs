// `npm run bench`: runs the benchmarks (docs/benchmarks.md) in sequence, each in a child process of its own
// (heaps and SQLite files do not mix), prints a table per benchmark with its targets, runs
// `node --cpu-prof` on the statecrew side of every benchmark that missed a target, and
// writes docs/benchmarks.md.
//
//   node bench/index.mjs [--only N[,M…]] [--quick] [--no-profile] [--write-docs]
//   node bench/index.mjs --docs-from <results.json>     (rewrite the docs from a saved run)
//   node bench/index.mjs --profile-only <results.json>  (profile a saved run's missed targets again)
//
// --quick: scaled-down sizes, for development; the docs are then written only with --write-docs.
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { profilesIn, summarizeProfiles } from './lib/cpuProfile.mjs';
import { snapshotDist } from './lib/distSnapshot.mjs';
import { describeMachine, describeSource, loadAverage } from './lib/machineInfo.mjs';
import { renderDocs } from './lib/report.mjs';
import { textTable } from './lib/stats.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const docsFile = path.resolve(here, '..', 'docs', 'benchmarks.md');

/** The benchmarks, in order. */
const BENCHMARKS = [
  { id: 1, file: 'transitions.mjs', name: 'persisted transitions' },
  { id: 2, file: 'checkpointer.mjs', name: 'LangGraph SqliteSaver comparison' },
  { id: 3, file: 'restore.mjs', name: 'restore', execArgv: ['--expose-gc'] },
  { id: 4, file: 'claims.mjs', name: 'claims under contention' },
  { id: 5, file: 'endToEnd.mjs', name: 'end to end' },
  { id: 6, file: 'postgres.mjs', name: 'PostgreSQL store' },
  { id: 7, file: 'fleet.mjs', name: 'a fleet: 256 workers, then status and the inspector' },
  { id: 8, file: 'storeSize.mjs', name: 'store size with retention' },
];

function parseArgs(argv) {
  const options = { only: null, quick: false, profile: true, writeDocs: false, docsFrom: null, profileOnly: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') options.quick = true;
    else if (arg === '--no-profile') options.profile = false;
    else if (arg === '--write-docs') options.writeDocs = true;
    else if (arg === '--docs-from') options.docsFrom = argv[++i];
    else if (arg === '--profile-only') options.profileOnly = argv[++i];
    else if (arg === '--only') {
      const ids = (argv[++i] ?? '').split(',').map(Number);
      if (ids.some((id) => !BENCHMARKS.some((b) => b.id === id))) throw new Error(`--only takes benchmark numbers 1-${BENCHMARKS.length}, got ${argv[i]}`);
      options.only = ids;
    } else throw new Error(`unknown argument ${arg}; usage: node bench/index.mjs [--only N[,M]] [--quick] [--no-profile] [--write-docs] [--docs-from FILE] [--profile-only FILE]`);
  }
  return options;
}

/** The copy of dist/ every benchmark loads the runtime from (see lib/distSnapshot.mjs); set by main. */
let dist = { execArgv: [], env: {} };

/** Runs one benchmark file in a child process (runtime from the dist snapshot) and resolves with the result it sends. */
function runChild(bench, args, execArgv) {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(here, bench.file), args, {
      execArgv: [...dist.execArgv, ...execArgv],
      env: { ...process.env, ...dist.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let outcome;
    child.on('message', (message) => {
      outcome = message;
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (outcome?.type === 'result' && code === 0) resolve(outcome.result);
      else reject(new Error(`benchmark ${bench.id} (${bench.file}) failed with ${signal ?? `exit code ${code}`}${outcome?.type === 'error' ? `:\n${outcome.message}` : ''}`));
    });
  });
}

/** Runs the statecrew side of a benchmark under `node --cpu-prof` and ranks its functions by self time. */
async function profile(bench, quick) {
  const dir = mkdtempSync(path.join(os.tmpdir(), `statecrew-bench-prof-${bench.id}-`));
  try {
    const execArgv = [...(bench.execArgv ?? []), '--cpu-prof', '--cpu-prof-dir', dir];
    const result = await runChild(bench, ['--profile', ...(quick ? ['--quick'] : [])], execArgv);
    const summary = summarizeProfiles(profilesIn(dir));
    return { workload: result.profiled, ...summary, functions: summary.functions.slice(0, 15), statecrewInclusive: summary.statecrewInclusive.slice(0, 15), modules: summary.modules.slice(0, 10) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printResult(result) {
  console.log(`\n=== ${result.id}. ${result.title} ===`);
  for (const table of result.tables) console.log(`\n${table.title}\n${textTable(table)}`);
  console.log('');
  for (const t of result.targets) console.log(`target: ${t.name} ${t.boundShown} — measured ${t.shown} — ${t.met ? 'met' : 'MISSED'}`);
  for (const note of result.notes) console.log(`  · ${note}`);
}

function printProfile(p) {
  const pct = (v) => `${v.toFixed(1)} %`;
  console.log(`\nprofile (node --cpu-prof, ${p.files} profile${p.files === 1 ? '' : 's'}: ${p.workload}; busy ${Math.round(p.busyMs)} ms, idle ${Math.round(p.idleMs)} ms) — top self time:`);
  console.log(textTable({ columns: ['function', 'where', 'self', 'of busy'], rows: p.functions.slice(0, 12).map((f) => [f.name, f.where, `${Math.round(f.selfMs)} ms`, pct(f.pct)]) }));
  console.log(textTable({ columns: ['statecrew function', 'where', 'total (inclusive)', 'of busy'], rows: p.statecrewInclusive.slice(0, 12).map((f) => [f.name, f.where, `${Math.round(f.totalMs)} ms`, pct(f.pct)]) }));
  console.log(textTable({ columns: ['by module', 'self', 'of busy'], rows: p.modules.map((m) => [m.module, `${Math.round(m.selfMs)} ms`, pct(m.pct)]) }));
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (options.docsFrom !== null) {
    writeFileSync(docsFile, renderDocs(JSON.parse(readFileSync(options.docsFrom, 'utf8')), readAnalysis()));
    console.log(`wrote ${path.relative(process.cwd(), docsFile)} from ${options.docsFrom}`);
    return;
  }
  const machine = describeMachine();
  const source = describeSource();
  // Copied right after `npm run build`: a rebuild by someone else during the run changes nothing here.
  dist = snapshotDist();
  try {
    if (options.profileOnly !== null) await profileAgain(options.profileOnly, source);
    else await runAll(options, machine, source);
  } finally {
    dist.remove();
  }
}

/** Profiles again the statecrew side of every benchmark of a saved run that missed a target, and rewrites its record and the docs. */
async function profileAgain(file, source) {
  const run = JSON.parse(readFileSync(file, 'utf8'));
  for (const entry of run.benchmarks) {
    const bench = BENCHMARKS.find((b) => b.id === entry.id);
    if (entry.result === undefined || bench === undefined || entry.result.targets.every((t) => t.met)) continue;
    console.log(`profiling benchmark ${entry.id} again`);
    entry.profile = { ...(await profile(bench, run.quick)), at: new Date().toISOString(), source, load: loadAverage() };
    delete entry.profileError;
    printProfile(entry.profile);
  }
  const out = file.replace(/\.json$/, '-profiled.json');
  writeFileSync(out, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`results: ${out}`);
  if (!run.quick && run.benchmarks.length === BENCHMARKS.length) {
    writeFileSync(docsFile, renderDocs(run, readAnalysis()));
    console.log(`wrote ${path.relative(process.cwd(), docsFile)}`);
  }
}

async function runAll(options, machine, source) {
  const run = { startedAt: new Date().toISOString(), quick: options.quick, machine, source, loadBefore: loadAverage(), benchmarks: [] };
  console.log(`statecrew benchmarks${options.quick ? ' (--quick: scaled-down sizes)' : ''} — ${run.startedAt}`);
  console.log(`machine: ${machine.cpuModel}, ${machine.logicalCores} logical cores, ${machine.memoryGiB} GiB; ${machine.os}`);
  console.log(`Node ${machine.node} (V8 ${machine.v8}), SQLite ${machine.sqlite} (better-sqlite3 ${machine.betterSqlite3}), xstate ${machine.xstate}; temp files on ${machine.tmpFileSystem}`);
  console.log(`runtime built from ${source.commit} (${source.subject})${source.changed.length === 0 ? '' : ` plus uncommitted changes in ${source.changed.join(', ')}`}`);
  console.log(`load average before: ${run.loadBefore.join(', ')}`);
  let failed = false;
  for (const bench of BENCHMARKS.filter((b) => options.only === null || options.only.includes(b.id))) {
    const entry = { id: bench.id, name: bench.name, loadBefore: loadAverage() };
    const started = performance.now();
    try {
      entry.result = await runChild(bench, options.quick ? ['--quick'] : [], bench.execArgv ?? []);
    } catch (error) {
      failed = true;
      entry.error = error.message;
      console.error(`\n=== ${bench.id}. ${bench.name}: FAILED ===\n${error.message}`);
      run.benchmarks.push(entry);
      continue;
    }
    entry.seconds = (performance.now() - started) / 1000;
    entry.loadAfter = loadAverage();
    printResult(entry.result);
    console.log(`  (${entry.seconds.toFixed(1)} s; load average ${entry.loadBefore.join(', ')} before, ${entry.loadAfter.join(', ')} after)`);
    if (options.profile && entry.result.targets.some((t) => !t.met)) {
      try {
        entry.profile = await profile(bench, options.quick);
        printProfile(entry.profile);
      } catch (error) {
        failed = true;
        entry.profileError = error.message;
        console.error(`profile of benchmark ${bench.id} failed: ${error.message}`);
      }
    }
    run.benchmarks.push(entry);
  }
  run.finishedAt = new Date().toISOString();
  run.loadAfter = loadAverage();
  const resultsDir = path.join(os.tmpdir(), 'statecrew-bench-results');
  mkdirSync(resultsDir, { recursive: true });
  const resultsFile = path.join(resultsDir, `${run.startedAt.replace(/[:.]/g, '-')}.json`);
  writeFileSync(resultsFile, `${JSON.stringify(run, null, 2)}\n`);
  console.log(`\nresults: ${resultsFile}`);
  if (!options.quick) recordResults(run);
  const complete = run.benchmarks.length === BENCHMARKS.length && !failed;
  if (options.writeDocs || (complete && !options.quick)) {
    writeFileSync(docsFile, renderDocs(run, readAnalysis()));
    console.log(`wrote ${path.relative(process.cwd(), docsFile)}`);
  } else {
    console.log(`docs/benchmarks.md not written (${complete ? '--quick' : 'not every benchmark ran'}; --write-docs forces it)`);
  }
  if (failed) process.exitCode = 1;
}

/**
 * Keeps the latest full-size result of every benchmark in bench/results.json (committed with
 * the code it measured): the benchmarks of this run replace their earlier entries, the others stay.
 */
function recordResults(run) {
  const file = path.join(here, 'results.json');
  let kept = [];
  try {
    kept = JSON.parse(readFileSync(file, 'utf8')).benchmarks ?? [];
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
  }
  // A benchmark that failed this time keeps its earlier result.
  const measured = run.benchmarks.filter((b) => b.result !== undefined);
  const ran = new Set(measured.map((b) => b.id));
  const benchmarks = [...kept.filter((b) => !ran.has(b.id)), ...measured.map((b) => ({ ...b, run: { startedAt: run.startedAt, machine: run.machine, source: run.source } }))].sort((a, b) => a.id - b.id);
  writeFileSync(file, `${JSON.stringify({ updatedAt: new Date().toISOString(), targets: targetsOf(benchmarks), benchmarks }, null, 2)}\n`);
  console.log(`recorded in ${path.relative(process.cwd(), file)}`);
}

/** Targets no benchmark measures yet, with why: reported as missed, never left out. */
const UNMEASURED = [];

/**
 * One object per target of issue 14 (B1–B9), from the latest result of each benchmark: `id`,
 * `name`, `value` (the measured number, in the unit `shown` gives), `target` (the bound as
 * shown), `met`, and which benchmark run measured it; unmeasured ones from {@link UNMEASURED}.
 */
function targetsOf(benchmarks) {
  const measured = benchmarks.flatMap((b) =>
    (b.result?.targets ?? []).map((t) => ({
      id: /^B\d+/.exec(t.name)?.[0] ?? null,
      name: t.name,
      value: t.value,
      shown: t.shown,
      target: t.boundShown,
      met: t.met,
      benchmark: b.id,
      measuredAt: b.run?.startedAt ?? null,
      commit: b.run?.source?.commit ?? null,
    })),
  );
  const order = (t) => (t.id === null ? 99 : Number(t.id.slice(1)));
  return [...measured, ...UNMEASURED].sort((a, b) => order(a) - order(b));
}

/** The hand-written analysis (bench/analysis.md) that docs/benchmarks.md carries below the figures, if any. */
function readAnalysis() {
  try {
    return readFileSync(path.join(here, 'analysis.md'), 'utf8');
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw error;
  }
}

main().catch((error) => {
  console.error(error.stack ?? error);
  process.exitCode = 1;
});
