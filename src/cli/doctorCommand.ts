import pc from 'picocolors';
import { defaultLogsDir, openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import { systemClock } from '../../core/clock.js';
import { AlignedClock } from '../storeClock.js';
import { diagnose, repair, type DoctorReport, type RepairReport } from '../doctor.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

export interface DoctorCommandOptions {
  readonly store: string;
  readonly json: boolean;
  readonly fix: boolean;
}

/**
 * `statecrew doctor [--store PATH] [--json] [--fix]`: integrity check, stale runtimes, leases
 * held past their expiry, dispatches active without a live owner, quarantined rows and orphan
 * turn processes. `--fix` applies the reconciliation (see `repair`) and checks again.
 * Never creates a store.
 * @returns 0 when nothing needs fixing (quarantined rows are reported, not counted), 1 when
 *   problems remain, 2 when there is no store at the path.
 */
export async function doctorCommand(options: DoctorCommandOptions, io: CliIO): Promise<number> {
  const file = resolveStoreLocation(options.store, io.cwd);
  const store = openStoreAt(file, options.fix ? { mustExist: true } : { readonly: true });
  try {
    // Heartbeats and lease expiries are on the store's clock (PostgreSQL: the server's); so are the judgments here.
    const clock = new AlignedClock(systemClock);
    await clock.sync(() => store.readClock());
    let fixed: RepairReport | undefined;
    if (options.fix) fixed = await repair(store, clock, file, defaultLogsDir(file, io.cwd));
    const report = await diagnose(store, clock);
    io.stdout.write(options.json ? `${JSON.stringify({ ...report, ...(fixed === undefined ? {} : { fixed }) }, null, 2)}\n` : render(report, fixed, io.stdout.isTTY));
    return report.healthy ? EXIT.ok : EXIT.failed;
  } finally {
    await store.close();
  }
}

function render(report: DoctorReport, fixed: RepairReport | undefined, tty: boolean): string {
  const c = tty ? pc : pc.createColors(false);
  const lines: string[] = [];
  if (fixed !== undefined) {
    lines.push(c.bold('fixed'));
    lines.push(`  orphan processes killed: ${fixed.killed.length === 0 ? 'none' : fixed.killed.join(', ')}`);
    lines.push(`  reconciliation run: ${fixed.reconciled ? 'yes' : 'not needed'}`);
    lines.push(`  expired leases released: ${fixed.releasedLeases.length === 0 ? 'none' : fixed.releasedLeases.join(', ')}`);
    lines.push(`  orphan worktrees and branches removed: ${fixed.removedWorkspaces.length === 0 ? 'none' : fixed.removedWorkspaces.join(', ')}`);
    for (const error of fixed.errors) lines.push(c.red(`  error: ${error}`));
  }
  lines.push(`${c.bold('integrity')} ${report.integrity.join('; ')}`);
  lines.push(c.bold('runtimes'));
  for (const runtime of report.runtimes) {
    const status = runtime.live ? c.green('live') : runtime.state === 'running' ? c.red(`stale: ${runtime.verdict ?? ''}`) : runtime.state;
    lines.push(`  ${runtime.id.padEnd(12)} pid ${String(runtime.pid).padEnd(8)} ${status}`);
  }
  lines.push(c.bold(`findings (${report.findings.length})`));
  for (const finding of report.findings) lines.push(`  ${finding.kind.padEnd(18)} ${finding.subject}: ${finding.detail}`);
  lines.push(report.healthy ? c.green('healthy') : c.red('problems found; `statecrew doctor --fix` reconciles them'));
  return `${lines.join('\n')}\n`;
}
