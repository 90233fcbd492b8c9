import path from 'node:path';
import { loadPlan } from '../plan/load.js';
import { resolveWorkspaces } from '../plan/workspaces.js';
import type { Plan } from '../plan/types.js';
import { createRuntime, type Runtime, type RunResult } from '../runtime.js';
import { formatDuration } from '../../core/duration.js';
import { defaultLogsDir, isPostgresUrl, openStoreAt, redactUrl, resolveStoreLocation } from '../../persistence/openStore.js';
import { ensureError, StoreFailedError, StoreUnavailableError } from '../../core/errors.js';
import { startInspector, type Inspector } from '../inspector/server.js';
import { packageVersion, startOtelSdk } from '../telemetry/otelSdk.js';
import { attachReporter } from './reporter.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

export interface RunCommandOptions {
  readonly plan: string;
  /** Overrides the plan's `store`. */
  readonly store?: string;
  /** Overrides the plan's `workers`. */
  readonly workers?: number;
  /** Runtime heartbeat TTL in ms (see `RuntimeOptions.heartbeatTtlMs`). */
  readonly heartbeatTtlMs?: number;
  /** Milestone lease TTL in ms (see `RuntimeOptions.leaseTtlMs`). */
  readonly leaseTtlMs?: number;
  /** Keep-alive grace of turns in ms (see `RuntimeOptions.turnGraceMs`). */
  readonly turnGraceMs?: number;
  /** How long store calls wait out a locked store, in ms (see `RuntimeOptions.storeRetryMs`). */
  readonly storeRetryMs?: number;
  /** SQLite `synchronous`: `normal` (default) or `full`. */
  readonly durability?: 'normal' | 'full';
  /** Serve the inspector of the store beside the run (see `statecrew inspect`) and print its URL. @default false */
  readonly inspect?: boolean;
  /** Export spans and metrics over OTLP/HTTP as the `OTEL_*` variables say (see `startOtelSdk`). @default false */
  readonly otel?: boolean;
}

/**
 * `statecrew run <plan>`: validates the plan (exit 2 and no store on bad input), then runs it
 * on the store, resuming whatever an earlier run left unfinished and sharing the work with
 * any other runtime on the same store. SIGINT and SIGTERM drain the run (kill-verify turns,
 * release leases, persist every actor) and exit 130 / 143. A runtime that was declared dead
 * by another (it was stopped past its heartbeat TTL) stops driving its old actors and
 * rejoins as a new runtime.
 * @returns the exit code (see {@link EXIT}).
 * @throws PlanError for an invalid plan (the caller maps it to exit code 2).
 * @throws StoreCorruptError when the store cannot be opened (exit code 2).
 */
export async function runCommand(options: RunCommandOptions, io: CliIO): Promise<number> {
  const loaded = loadPlan(options.plan, { cwd: io.cwd });
  // Workspaces are checked against their repositories before any store is opened: bad input exits 2 with nothing created.
  const plan: Plan = await resolveWorkspaces(
    {
      ...loaded,
      ...(options.store === undefined ? {} : { store: resolveStoreLocation(options.store, io.cwd) }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    },
    options.store === undefined ? loaded.store : resolveStoreLocation(options.store, io.cwd),
  );
  const store = openStoreAt(plan.store, { durability: options.durability ?? 'normal' });
  // A networked store that cannot be reached or used ends here (exit 2), before anything is written.
  await store.ready().catch(async (error: unknown) => {
    await store.close();
    throw error;
  });
  const inspector = options.inspect === true ? await startInspectorBeside(plan.store, io) : undefined;
  const otel = options.otel === true ? await startOtelSdk(packageVersion()) : undefined;
  const started = Date.now();
  let transitions = 0;
  let current: Runtime | undefined;
  let signaled: { reason: string; exitCode: number } | undefined;
  const onSignal = (signal: 'SIGINT' | 'SIGTERM') => () => {
    signaled = { reason: signal, exitCode: signal === 'SIGINT' ? EXIT.sigint : EXIT.sigterm };
    void current?.stop(signaled.reason, signaled.exitCode);
  };
  const onInt = onSignal('SIGINT');
  const onTerm = onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    let result: RunResult;
    for (;;) {
      const runtime = createRuntime({
        store,
        logsDir: defaultLogsDir(plan.store, io.cwd),
        ...(options.heartbeatTtlMs === undefined ? {} : { heartbeatTtlMs: options.heartbeatTtlMs }),
        ...(options.leaseTtlMs === undefined ? {} : { leaseTtlMs: options.leaseTtlMs }),
        ...(options.turnGraceMs === undefined ? {} : { turnGraceMs: options.turnGraceMs }),
        ...(options.storeRetryMs === undefined ? {} : { storeRetryMs: options.storeRetryMs }),
      });
      current = runtime;
      runtime.events.on('actor.transition', () => {
        transitions++;
      });
      const reporter = attachReporter(runtime.events, io.stdout);
      const startFailure = await runtime.start(plan).then(
        () => undefined,
        (error: unknown) => ensureError(error),
      );
      if (startFailure !== undefined) {
        reporter.close();
        if (!(startFailure instanceof StoreFailedError || startFailure instanceof StoreUnavailableError)) throw startFailure;
        // The store failed while starting: the run is over, and its result (exit code 4) says why.
        result = await runtime.finished;
        break;
      }
      await runtime.progress().then(
        (progress) => reporter.seed(progress),
        (error: unknown) => io.stderr.write(`statecrew: cannot read the run's progress: ${ensureError(error).message}\n`),
      );
      if (signaled !== undefined) void runtime.stop(signaled.reason, signaled.exitCode);
      result = await runtime.finished;
      reporter.close();
      if (!result.fenced || signaled !== undefined) break;
      io.stdout.write(`runtime ${runtime.id} was taken over by another runtime (${result.reason}); rejoining\n`);
    }
    io.stdout.write(`${summary(result, plan, io, Date.now() - started, transitions)}\n`);
    if (result.exitCode === EXIT.storeFailure) {
      io.stderr.write(`statecrew: ${result.reason}; the store is unchanged since its last committed transition — fix the cause and run the same command again to resume\n`);
    }
    if (result.exitCode === EXIT.sigint || result.exitCode === EXIT.sigterm) {
      io.stdout.write(`stopped (${result.reason}); run the same command again to resume\n`);
    }
    return result.exitCode;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
    await inspector?.close();
    // Spans and metrics still buffered are exported before the process exits.
    await otel?.shutdown().catch((error: unknown) => io.stderr.write(`statecrew: OpenTelemetry export failed: ${ensureError(error).message}\n`));
    await store.close();
  }
}

/** The inspector on its own connection, so it sees the run's commits, and the run its actions, as another process would. */
async function startInspectorBeside(storePath: string, io: CliIO): Promise<Inspector> {
  const inspector = await startInspector({ store: storePath, onError: (error) => io.stderr.write(`statecrew inspect: ${error.message}\n`) });
  io.stdout.write(`statecrew inspector: ${inspector.url} (until the run ends; \`statecrew inspect\` shows the store afterwards)\n`);
  return inspector;
}

function summary(result: RunResult, plan: Plan, io: CliIO, elapsedMs: number, transitions: number): string {
  const units = [...result.progress.units.values()];
  const done = units.filter((u) => u.state === 'completed').length;
  const failed = units.filter((u) => u.state === 'failed').map((u) => u.spec.id);
  const blocked = units.filter((u) => u.state === 'blocked').map((u) => u.spec.id);
  const parts = [`${done}/${units.length} units completed in ${formatDuration(elapsedMs)}`];
  if (failed.length > 0) parts.push(`failed: ${failed.join(', ')}`);
  if (blocked.length > 0) parts.push(`blocked: ${blocked.join(', ')}`);
  parts.push(`${transitions} transitions persisted to ${isPostgresUrl(plan.store) ? redactUrl(plan.store) : path.relative(io.cwd, plan.store) || plan.store}`);
  return parts.join(' · ');
}
