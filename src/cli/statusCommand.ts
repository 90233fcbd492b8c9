import pc from 'picocolors';
import { openStoreAt } from '../../persistence/openStore.js';
import { formatUsd } from '../budgets.js';
import { readStatus, type StatusReport } from '../status.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

/**
 * `statecrew status [--store PATH] [--json]`: prints every milestone, unit, worker, lease
 * and dispatch of the store with its state. Opens the store read-only and never creates it.
 * @returns exit code: 0, or 2 when there is no store at the path.
 */
export async function statusCommand(options: { store: string; json: boolean }, io: CliIO): Promise<number> {
  const store = openStoreAt(options.store, { readonly: true });
  try {
    const report = await readStatus(store);
    io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : renderStatus(report, io.stdout.isTTY));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

function renderStatus(report: StatusReport, tty: boolean): string {
  const c = tty ? pc : pc.createColors(false);
  const paint = (state: string) =>
    state === 'completed' || state === 'released'
      ? c.green(state)
      : state === 'failed' || state === 'blocked' || state === 'zombie' || state === 'stuck' || state === 'lost'
        ? c.red(state)
        : state === 'running' || state === 'in_turn' || state === 'held'
          ? c.cyan(state)
          : state;
  const lines: string[] = [];
  const done = report.units.filter((u) => u.state === 'completed').length;
  lines.push(c.bold(`units ${done}/${report.units.length} completed`));
  for (const milestone of report.milestones) {
    lines.push(`${c.bold('milestone')} ${milestone.id}  ${paint(milestone.state)}${milestone.failure === null ? '' : `  ${c.dim(milestone.failure)}`}`);
    const ws = milestone.workspace;
    if (ws !== null) {
      const commits = `${ws.base}@${short(ws.baseCommit)} → ${ws.branch}@${short(ws.headCommit)}${ws.mergedCommit === null ? '' : `, merged as ${short(ws.mergedCommit)}`}`;
      lines.push(`  ${c.dim('workspace')} ${ws.path}  ${paint(ws.state)}  ${commits}${ws.reason === null ? '' : `  ${c.dim(ws.reason.split('\n')[0] ?? '')}`}`);
    }
    for (const unit of report.units.filter((u) => u.milestoneId === milestone.id)) {
      const last = report.dispatches.filter((d) => d.unitId === unit.id).at(-1);
      const reason = unit.failure ?? last?.reason;
      const why = (unit.state === 'failed' || unit.state === 'stuck') && reason ? `  ${c.dim(reason)}` : '';
      const cost = unit.costUsd === null ? '' : `  $${unit.costUsd.toFixed(4)} ${unit.inputTokens ?? 0}/${unit.outputTokens ?? 0} tokens in/out`;
      const turns = unit.turns === unit.attempts ? '' : `, turns ${unit.turns}`;
      lines.push(`  ${unit.id.padEnd(28)} ${paint(unit.state).padEnd(tty ? 19 : 10)} attempts ${unit.attempts}${turns}${cost}${why}`);
      if (unit.sessionId !== null) {
        const mismatch = unit.resumeMismatches === 0 ? '' : `  ${c.red(`${unit.resumeMismatches} resume mismatch${unit.resumeMismatches === 1 ? '' : 'es'}`)}`;
        lines.push(`    ${c.dim('session')} ${unit.sessionId}${mismatch}`);
      }
      if (unit.waiting !== null) lines.push(`    ${c.yellow('waiting')} ${unit.waiting}`);
      for (const denial of unit.permissionDenials) {
        lines.push(`    ${c.yellow('denied')} ${denial.tool}${denial.target === null ? '' : ` ${denial.target}`}  ${c.dim(denial.dispatchId)}`);
      }
    }
  }
  if (report.budgets.length > 0) lines.push(c.bold('budgets'));
  for (const budget of report.budgets) {
    const spend = `${formatUsd(budget.spentUsd)} of ${formatUsd(budget.maxCostUsd)}`;
    lines.push(`  ${`${budget.scope} ${budget.scope === 'plan' ? '' : budget.id}`.padEnd(28)} ${budget.exceeded ? c.red(`${spend} exceeded`) : spend}`);
  }
  lines.push(c.bold('workers'));
  for (const worker of report.workers) lines.push(`  ${worker.id.padEnd(12)} ${paint(worker.state)}`);
  lines.push(c.bold('leases'));
  for (const lease of report.leases) {
    lines.push(`  ${lease.milestoneId.padEnd(16)} ${lease.workerId.padEnd(12)} token ${String(lease.fencingToken ?? '-').padEnd(4)} ${paint(lease.state)}`);
  }
  lines.push(c.bold('dispatches'));
  for (const d of report.dispatches) {
    const reason = d.reason === null ? '' : `  ${c.dim(d.reason)}`;
    lines.push(`  ${d.id.padEnd(28)} ${paint(d.state).padEnd(tty ? 19 : 10)} ${String(d.workerId ?? '-').padEnd(10)} ${d.startedAt ?? '-'}${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The first 10 hex digits of a commit, `-` for none. */
function short(commit: string | null): string {
  return commit === null ? '-' : commit.slice(0, 10);
}
