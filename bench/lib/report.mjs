// Renders docs/benchmarks.md from the record of one `npm run bench` run.
import { markdownTable } from './stats.mjs';

const pct = (v) => `${v.toFixed(1)} %`;

function machineSection(run) {
  const m = run.machine;
  return [
    '## Machine',
    '',
    markdownTable({
      columns: ['', ''],
      align: ['left', 'left'],
      rows: [
        ['CPU', m.cpuModel],
        ['cores', `${m.logicalCores} logical (available parallelism ${m.availableParallelism}), shared with other work while this ran`],
        ['memory', `${m.memoryGiB} GiB`],
        ['OS', m.os],
        ['Node', `${m.node} (V8 ${m.v8})`],
        ['SQLite', `${m.sqlite} (better-sqlite3 ${m.betterSqlite3})`],
        ['xstate', m.xstate],
        ['@langchain/langgraph-checkpoint-sqlite', m.langgraphCheckpointSqlite],
        ['temporary files', `${m.tmpDir}, ${m.tmpFileSystem}`],
        ['run', `${run.startedAt} → ${run.finishedAt}${run.quick ? ' (--quick sizes)' : ''}`],
        ...(run.source === undefined
          ? []
          : [['runtime measured', `dist/ built from ${run.source.commit} (${run.source.subject})${run.source.changed.length === 0 ? '' : `, with uncommitted changes in ${run.source.changed.join(', ')}`}`]]),
        ['load average (1, 5, 15 min)', `${run.loadBefore.join(', ')} at the start, ${run.loadAfter.join(', ')} at the end`],
      ],
    }),
  ];
}

function summarySection(run) {
  const rows = [];
  for (const entry of run.benchmarks) {
    if (entry.error !== undefined) {
      rows.push([`${entry.id}. ${entry.name}`, '—', 'failed', '—']);
      continue;
    }
    for (const t of entry.result.targets) rows.push([`${entry.id}. ${t.name}`, t.boundShown, t.shown, t.met ? 'met' : '**missed**']);
  }
  return ['## Targets', '', markdownTable({ columns: ['benchmark', 'target', 'measured', ''], align: ['left', 'right', 'right', 'left'], rows })];
}

function profileSection(profile) {
  return [
    '',
    `Profile of the statecrew side (\`node --cpu-prof\`, ${profile.files} profile${profile.files === 1 ? '' : 's'}, one per process or thread; ${profile.workload}; ${Math.round(profile.busyMs)} ms busy, ${Math.round(profile.idleMs)} ms idle${profile.at === undefined ? '' : `; profiled separately at ${profile.at}, runtime built from ${profile.source.commit}${profile.source.changed.length === 0 ? '' : ' with uncommitted changes'}, load average ${profile.load.join(', ')}`}). Top functions by self time, as a share of busy time (time blocked in a native call, e.g. waiting for a lock or an fsync, counts as busy):`,
    '',
    markdownTable({
      columns: ['function', 'where', 'self', 'of busy'],
      align: ['left', 'left', 'right', 'right'],
      rows: profile.functions.slice(0, 12).map((f) => [`\`${f.name}\``, f.where === '' ? '(native)' : `\`${f.where}\``, `${Math.round(f.selfMs)} ms`, pct(f.pct)]),
    }),
    '',
    'statecrew\'s own functions by total (inclusive) time:',
    '',
    markdownTable({
      columns: ['function', 'where', 'total', 'of busy'],
      align: ['left', 'left', 'right', 'right'],
      rows: profile.statecrewInclusive.slice(0, 12).map((f) => [`\`${f.name}\``, `\`${f.where}\``, `${Math.round(f.totalMs)} ms`, pct(f.pct)]),
    }),
    '',
    markdownTable({ columns: ['by module', 'self', 'of busy'], rows: profile.modules.map((m) => [m.module, `${Math.round(m.selfMs)} ms`, pct(m.pct)]) }),
  ];
}

export function benchmarkSection(entry) {
  const lines = ['', `## ${entry.id}. ${entry.error === undefined ? entry.result.title : entry.name}`, ''];
  if (entry.error !== undefined) return [...lines, 'Failed:', '', '```', entry.error, '```'];
  const { result } = entry;
  if (entry.note !== undefined) lines.push(`> ${entry.note}`, '');
  for (const table of result.tables) lines.push(`${table.title}:`, '', markdownTable(table), '');
  for (const t of result.targets) lines.push(`- Target: ${t.name} ${t.boundShown} — measured **${t.shown}**, ${t.met ? 'met' : '**missed**'}.`);
  lines.push('');
  for (const note of result.notes) lines.push(`- ${note}`);
  lines.push('', `Took ${entry.seconds.toFixed(1)} s; load average ${entry.loadBefore.join(', ')} before, ${entry.loadAfter.join(', ')} after.`);
  if (entry.profile !== undefined) lines.push(...profileSection(entry.profile));
  if (entry.profileError !== undefined) lines.push('', `The profile run failed: ${entry.profileError}`);
  return lines;
}

/**
 * docs/benchmarks.md: how to run, the machine, targets met or missed, every benchmark's
 * tables and notes, profiles of missed targets, then the hand-written analysis if given.
 */
export function renderDocs(run, analysis) {
  return `${[
    '# Benchmarks',
    '',
    '<!-- Written by `npm run bench` (bench/index.mjs); the analysis at the end comes from bench/analysis.md. -->',
    '',
    '`npm run bench` builds, then runs eight benchmarks in sequence, each in a child process of its own, and rewrites this file and `bench/results.json` (one object per target B1–B9 with `id`, `name`, `value`, `target` and `met`, then every benchmark\'s full result). `node bench/index.mjs --only 3 --quick` runs one benchmark with scaled-down sizes (for development; it does not rewrite this file). Each benchmark measures the statecrew variant and its baseline in the same process, alternating them, after a warm-up; the short ones report the median of several rounds. For every missed target the statecrew side is run again under `node --cpu-prof`, and its functions are ranked by self time. The runtime is loaded from a copy of `dist/` taken right after the build, so a rebuild during the run (the checkout is shared) cannot change what is measured; the machine\'s load average is recorded before and after each benchmark.',
    '',
    ...machineSection(run),
    '',
    ...summarySection(run),
    ...run.benchmarks.flatMap(benchmarkSection),
    ...(analysis === null ? [] : ['', analysis.trim()]),
  ].join('\n')}\n`;
}
