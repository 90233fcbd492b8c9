/**
 * The long crash-fuzz soak, run by `npm run soak` (scripts/soak.mjs), which passes its command
 * line here as JSON in STATECREW_SOAK and prints the summary this file writes to
 * STATECREW_SOAK_REPORT. Not part of `npm test` (its name does not end in `.test.ts`).
 *
 * One round is one fresh store and plan (seed, seed + 1, …) with two runtimes and a share of the
 * kills; rounds follow each other until the requested number of kills was delivered.
 */
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { formatReport, runCrashFuzz, type FuzzReport } from './harness.js';

/** Parameters of the soak (see scripts/soak.mjs for their command-line names and defaults). */
interface SoakParameters {
  readonly kills: number;
  readonly units: number;
  readonly seed: number;
  readonly killsPerRound: number;
  readonly minUnitMs: number;
  readonly maxUnitMs: number;
  readonly simultaneousStart: boolean;
  /** A PostgreSQL URL (each round a schema `soak_<seed>` of it), or `null` for SQLite. */
  readonly store: string | null;
  readonly hosts: boolean;
  readonly keep: boolean;
  readonly verbose: boolean;
}

const parameters = JSON.parse(process.env.STATECREW_SOAK ?? '{}') as Partial<SoakParameters>;
const soak: SoakParameters = {
  kills: parameters.kills ?? 200,
  units: parameters.units ?? 150,
  seed: parameters.seed ?? 1,
  killsPerRound: parameters.killsPerRound ?? Math.max(1, Math.round((parameters.units ?? 150) / 5)),
  minUnitMs: parameters.minUnitMs ?? 20,
  maxUnitMs: parameters.maxUnitMs ?? 150,
  simultaneousStart: parameters.simultaneousStart ?? false,
  store: parameters.store ?? null,
  hosts: parameters.hosts ?? false,
  keep: parameters.keep ?? false,
  verbose: parameters.verbose ?? false,
};

function summary(rounds: readonly FuzzReport[], elapsedMs: number): string {
  const sum = (pick: (r: FuzzReport) => number) => rounds.reduce((total, r) => total + pick(r), 0);
  const violations = rounds.flatMap((r) => r.violations.map((v) => `round seed ${r.seed}: ${v}`));
  const byKind = new Map<string, number>();
  for (const violation of rounds.flatMap((r) => r.violations)) {
    const kind = /^\[[^\]]+\]/.exec(violation)?.[0] ?? '[other]';
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  const rows: [string, string][] = [
    ['kills survived', `${sum((r) => r.kills)} of ${soak.kills} requested`],
    ['rounds (fresh store each)', `${rounds.length} (seeds ${rounds.map((r) => r.seed).join(', ')})`],
    ['units', `${sum((r) => r.units)} (${soak.units} per round, ${sum((r) => r.completedUnits)} completed, ${sum((r) => r.failedUnits.length)} failed by design)`],
    ['statecrew processes', String(sum((r) => r.incarnations))],
    ['runtimes taken over', `${sum((r) => r.takeovers)} (${sum((r) => r.startupKills)} kills hit a process before it registered)`],
    ['executions', String(sum((r) => r.executions))],
    ['executions failed by design', String(sum((r) => r.designedFailures))],
    ['executions repeated (crashes)', `${sum((r) => r.repeatedExecutions)} in ${sum((r) => r.unitsRepeated)} units (${sum((r) => r.interruptedExecutions)} killed mid-run, ${sum((r) => r.sameDispatchReruns)} re-run under the same dispatch)`],
    ['dispatches', `${sum((r) => r.dispatches)} (${sum((r) => r.lostDispatches)} lost, ${sum((r) => r.abandonedDispatches)} abandoned/fenced)`],
    ['lease grants', String(sum((r) => r.leaseGrants))],
    ['journal rows', String(sum((r) => r.journalRows))],
    ['check passes', String(sum((r) => r.checks))],
    ['duration', `${(elapsedMs / 1000).toFixed(1)} s`],
    ['invariant violations', `${violations.length}${byKind.size === 0 ? '' : ` (${[...byKind].map(([kind, n]) => `${kind} ${n}`).join(', ')})`}`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  return [...rows.map(([name, value]) => `${name.padEnd(width)}  ${value}`), ...violations.map((v) => `- ${v}`)].join('\n');
}

it('soak: crash fuzz with many kills', async () => {
  const started = Date.now();
  const rounds: FuzzReport[] = [];
  const out = process.env.STATECREW_SOAK_REPORT;
  const write = (text: string) => {
    if (out !== undefined) fs.appendFileSync(out, `${text}\n`);
  };
  let delivered = 0;
  while (delivered < soak.kills) {
    const seed = soak.seed + rounds.length;
    const report = await runCrashFuzz({
      seed,
      kills: Math.min(soak.killsPerRound, soak.kills - delivered),
      units: soak.units,
      minUnitMs: soak.minUnitMs,
      maxUnitMs: soak.maxUnitMs,
      simultaneousStart: soak.simultaneousStart,
      ...(soak.store === null ? {} : { store: `${soak.store}?schema=soak_${seed}` }),
      hosts: soak.hosts,
      keepDir: soak.keep,
      ...(soak.verbose ? { log: (line: string) => write(line) } : {}),
    });
    rounds.push(report);
    delivered += report.kills;
    write(`\n== round ${rounds.length} (seed ${seed})\n${formatReport(report)}`);
    if (report.kills === 0) break;
  }
  const text = summary(rounds, Date.now() - started);
  write(`\n== soak: ${JSON.stringify({ ...soak, store: soak.store === null ? 'sqlite' : 'postgres' })}\n${text}`);
  // The figures and every violation were written above; keep the failure message short.
  expect(rounds.flatMap((r) => r.violations).length, 'invariant violations (listed above)').toBe(0);
  expect(delivered, 'kills delivered').toBeGreaterThanOrEqual(soak.kills);
}, 0);
