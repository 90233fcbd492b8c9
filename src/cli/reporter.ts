import pc from 'picocolors';
import type { Emitter } from 'mitt';
import type { RuntimeEvents } from '../events.js';
import { formatDuration } from '../../core/duration.js';
import type { Progress } from '../progress.js';

/** Where the reporter writes; `isTTY` switches between a live status line and plain lines. */
export interface ReporterOutput {
  write(text: string): void;
  readonly isTTY: boolean;
}

/**
 * Prints the progress of a run a person can follow: one line per event (unit started,
 * completed, failed and retried, milestones, leases), and on a TTY a status line at the
 * bottom with units done/total and what each worker runs. Without a TTY: plain lines only.
 */
export function attachReporter(events: Emitter<RuntimeEvents>, out: ReporterOutput) {
  const color = out.isTTY ? pc : pc.createColors(false);
  const running = new Map<string, string>();
  let statusShown = false;
  /** Units of the plan, once known ({@link seed}), and those completed. */
  let total: number | undefined;
  const completed = new Set<string>();

  const stamp = () => color.dim(new Date().toISOString().slice(11, 19));
  const counts = () => (total === undefined ? '' : `[${completed.size}/${total}]`);
  const statusLine = () => {
    const workers = [...running.entries()].map(([worker, unit]) => `${worker}: ${unit}`).join(' · ');
    return `${color.bold(counts())} ${workers === '' ? color.dim('idle') : workers}`;
  };
  const line = (text: string) => {
    if (out.isTTY && statusShown) out.write('\r\x1b[K');
    out.write(`${stamp()} ${text}\n`);
    if (out.isTTY) {
      out.write(statusLine());
      statusShown = true;
    }
  };

  const handlers = {
    'runtime.restored': (e: RuntimeEvents['runtime.restored']) => {
      if (e.count > 0) {
        line(`restored ${e.count} unfinished actors (${e.byKind.worker} workers, ${e.byKind.lease} leases, ${e.byKind.dispatch} dispatches)`);
      }
    },
    'plan.changed': (e: RuntimeEvents['plan.changed']) =>
      line(
        color.yellow(
          `plan changed since the last run: ${e.added.length} units added, ${e.removed.length} removed, ${e.changed.length} changed` +
            (e.changed.length > 0 ? ` (${e.changed.join(', ')}; completed ones are not run again)` : ''),
        ),
      ),
    'lease.acquired': (e: RuntimeEvents['lease.acquired']) =>
      line(`${color.cyan('lease')}    ${e.milestoneId} → ${e.workerId} (fencing token ${e.fencingToken})`),
    'unit.started': (e: RuntimeEvents['unit.started']) => {
      running.set(e.workerId, e.unitId);
      line(`${color.blue('start')}    ${e.unitId} attempt ${e.attempt} on ${e.workerId} (pid ${e.pid})`);
    },
    'unit.completed': (e: RuntimeEvents['unit.completed']) => {
      if (e.workerId !== null) running.delete(e.workerId);
      completed.add(e.unitId);
      const took = e.durationMs === null ? '' : ` in ${formatDuration(e.durationMs)}`;
      line(`${color.green('done')}     ${e.unitId}${took} ${counts()}`);
    },
    'unit.failed': (e: RuntimeEvents['unit.failed']) => {
      if (e.workerId !== null) running.delete(e.workerId);
      const next =
        e.retryInMs !== null
          ? `retry in ${formatDuration(e.retryInMs)}`
          : e.reason.startsWith('stuck: ')
            ? color.red('stuck: the same failure every time, not retried')
            : color.red('no attempts left');
      line(`${color.red('failed')}   ${e.unitId} attempt ${e.attempt}: ${e.reason} — ${next}`);
    },
    'unit.canceled': (e: RuntimeEvents['unit.canceled']) => line(`${color.yellow('canceled')} ${e.unitId}: ${e.reason}`),
    'milestone.state': (e: RuntimeEvents['milestone.state']) => {
      if (e.state === 'pending') return;
      const paint = e.state === 'completed' ? color.green : e.state === 'running' ? color.cyan : color.red;
      line(`${color.bold('milestone')} ${e.milestoneId} ${paint(e.state)}`);
    },
    'budget.exceeded': (e: RuntimeEvents['budget.exceeded']) => line(`${color.red('budget')}   ${e.reason}: no new turn starts under it`),
    'workspace.merged': (e: RuntimeEvents['workspace.merged']) =>
      line(`${color.green('merged')}   ${e.branch} into ${e.base} as ${e.commit.slice(0, 10)}${e.already ? ' (an interrupted merge had landed it)' : ''}`),
    'workspace.conflict': (e: RuntimeEvents['workspace.conflict']) =>
      line(`${color.red('conflict')} ${e.branch}: ${e.reason}; the branch is kept`),
    'workspace.check_failed': (e: RuntimeEvents['workspace.check_failed']) =>
      line(`${color.red('check')}    ${e.milestoneId} failed, no fix turn left; ${e.branch} is kept: ${e.reason.split('\n').at(-1) ?? ''}`),
    'runtime.took-over': (e: RuntimeEvents['runtime.took-over']) =>
      line(color.yellow(`took over ${e.runtimeId} (${e.reason}): ${e.actors} actors restored and reconciled`)),
    'worker.died': (e: RuntimeEvents['worker.died']) => line(color.red(`worker ${e.workerId} died: ${e.reason}`)),
    'runtime.draining': (e: RuntimeEvents['runtime.draining']) => {
      if (e.reason !== 'completed' && e.reason !== 'finished with failures') {
        line(color.yellow(`stopping (${e.reason}): killing turns, releasing leases…`));
      }
    },
    'runtime.store-waiting': (e: RuntimeEvents['runtime.store-waiting']) =>
      line(color.yellow(`the store is unavailable (${e.error.message}); waiting, retry ${e.attempt} in ${formatDuration(e.delayMs)}`)),
    'runtime.keep-alive-failed': (e: RuntimeEvents['runtime.keep-alive-failed']) =>
      line(color.yellow(`turn keep-alive ${e.path} not renewed (${e.error.message}); the turn is killed when its grace runs out`)),
    'runtime.store-recovered': (e: RuntimeEvents['runtime.store-recovered']) =>
      line(color.green(`the store is available again after ${formatDuration(e.waitedMs)} (${e.attempts} attempts of ${e.operation})`)),
    'runtime.store-failed': (e: RuntimeEvents['runtime.store-failed']) =>
      line(color.red(`the store failed (${e.error.message}): turns killed, stopping without writing more`)),
    'actor.quarantined': (e: RuntimeEvents['actor.quarantined']) =>
      line(color.red(`quarantined ${e.kind} ${e.actorId}: ${e.error.message}`)),
    'actor.persist-failed': (e: RuntimeEvents['actor.persist-failed']) =>
      line(color.red(`could not persist ${e.kind} ${e.actorId}: ${e.error.message}`)),
  } as const;

  for (const [name, handler] of Object.entries(handlers)) events.on(name as keyof RuntimeEvents, handler as never);

  return {
    /** The plan's progress when the run started: its units and those completed before. */
    seed(progress: Progress): void {
      total = progress.units.size;
      for (const unit of progress.units.values()) if (unit.state === 'completed') completed.add(unit.spec.id);
    },
    /** Clears the status line; call before printing the summary. */
    close(): void {
      for (const [name, handler] of Object.entries(handlers)) events.off(name as keyof RuntimeEvents, handler as never);
      if (out.isTTY && statusShown) out.write('\r\x1b[K');
    },
  };
}
