import path from 'node:path';
import { loadPlan } from '../plan/load.js';
import type { Plan } from '../plan/types.js';
import { createRuntime } from '../runtime.js';
import { formatDuration } from '../duration.js';
import { RuntimeConflictError } from '../errors.js';
import { attachReporter } from './reporter.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

export interface RunCommandOptions {
  readonly plan: string;
  /** Overrides the plan's `store`. */
  readonly store?: string;
  /** Overrides the plan's `workers`. */
  readonly workers?: number;
}

/**
 * `statecrew run <plan>`: validates the plan (exit 2 and no store on bad input), then runs it
 * on the store, resuming whatever an earlier run left unfinished. SIGINT and SIGTERM drain
 * the run (kill-verify turns, release leases, persist every actor) and exit 130 / 143.
 * @returns the exit code (see {@link EXIT}).
 * @throws PlanError for an invalid plan (the caller maps it to exit code 2).
 */
export async function runCommand(options: RunCommandOptions, io: CliIO): Promise<number> {
  const loaded = loadPlan(options.plan, { cwd: io.cwd });
  const plan: Plan = {
    ...loaded,
    ...(options.store === undefined ? {} : { store: path.resolve(io.cwd, options.store) }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  };
  const runtime = createRuntime({ store: plan.store });
  const started = Date.now();
  let transitions = 0;
  runtime.events.on('actor.transition', () => {
    transitions++;
  });
  const reporter = attachReporter(runtime.events, io.stdout, () => safeProgress(runtime));
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    void runtime.stop(signal, signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm);
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    try {
      await runtime.start(plan);
    } catch (error) {
      if (error instanceof RuntimeConflictError) {
        io.stderr.write(`statecrew: ${error.message}\n`);
        return EXIT.storeInUse;
      }
      throw error;
    }
    const result = await runtime.finished;
    reporter.close();
    const units = [...result.progress.units.values()];
    const done = units.filter((u) => u.state === 'completed').length;
    const failed = units.filter((u) => u.state === 'failed').map((u) => u.spec.id);
    const blocked = units.filter((u) => u.state === 'blocked').map((u) => u.spec.id);
    const parts = [`${done}/${units.length} units completed in ${formatDuration(Date.now() - started)}`];
    if (failed.length > 0) parts.push(`failed: ${failed.join(', ')}`);
    if (blocked.length > 0) parts.push(`blocked: ${blocked.join(', ')}`);
    parts.push(`${transitions} transitions persisted to ${path.relative(io.cwd, plan.store) || plan.store}`);
    io.stdout.write(`${parts.join(' · ')}\n`);
    if (result.exitCode === EXIT.sigint || result.exitCode === EXIT.sigterm) {
      io.stdout.write(`stopped (${result.reason}); run the same command again to resume\n`);
    }
    return result.exitCode;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    runtime.store.close();
  }
}

function safeProgress(runtime: ReturnType<typeof createRuntime>) {
  return runtime.store === undefined ? undefined : tryProgress(runtime);
}

function tryProgress(runtime: ReturnType<typeof createRuntime>) {
  return runtime.actors().length === 0 ? undefined : runtime.progress();
}
