import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { GitMissingError, PlanError, StatecrewError, StoreConnectionError, StoreCorruptError, StoreFailedError, StoreNotFoundError, StoreUnavailableError, StoreVersionError, UsageError } from '../../core/errors.js';
import { MAX_RETENTION_MS, MAX_WORKERS } from '../plan/limits.js';
import { parseDuration } from '../../core/duration.js';
import type { ChartFormat, ChartedMachineName } from '../chart/docsCharts.js';
import { EXIT } from './exitCodes.js';
import { processIO, type CliIO } from './io.js';
import { CHART_CHOICES, JOURNAL_KINDS, parseAttempt, parseLimit, parseSince } from './optionParsers.js';
import type { CompactCommandOptions } from './compactCommand.js';
import type { DoctorCommandOptions } from './doctorCommand.js';
import type { InspectCommandOptions } from './inspectCommand.js';
import type { JournalCommandOptions } from './journalCommand.js';
import type { LogsCommandOptions } from './logsCommand.js';

// Each command's module is imported when that command runs, not before: `statecrew status`
// does not load the runtime, the PostgreSQL client or the layout engine.

/** The store of commands given no `--store`: `STATECREW_STORE` (a path or a postgres:// URL), else the default SQLite file. */
const DEFAULT_STORE = process.env.STATECREW_STORE ?? '.statecrew/statecrew.db';

/**
 * Entry point of the `statecrew` CLI.
 * @param argv `process.argv` (node, script, ...args).
 * @returns the exit code (see `EXIT`); never throws for user errors.
 */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  let exitCode: number = EXIT.ok;
  const program = new Command()
    .name('statecrew')
    .description('Durable actor runtime for fleets of AI coding-agent workers')
    .exitOverride()
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) })
    .showHelpAfterError();

  program
    .command('run')
    .description('run a plan of milestones and units; resumes what an earlier run left unfinished')
    .argument('<plan>', 'plan file (YAML, version: 1)')
    .option('--store <path|url>', "store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else the plan's `store`, else .statecrew/statecrew.db)")
    .option('--workers <n>', "size of the worker pool (default: the plan's `workers`)", parsePositiveInt)
    .option('--heartbeat-ttl <duration>', 'runtime heartbeat TTL; a stopped runtime is taken over after it (default 10s)', parseDurationOption)
    .option('--lease-ttl <duration>', 'milestone lease TTL, renewed every third of it (default 30s)', parseDurationOption)
    .option(
      '--turn-grace <duration>',
      "a turn is killed by its shim once no runtime renewed its keep-alive for this long; other hosts wait for it before taking this runtime's actors over (default 30s)",
      parseDurationOption,
    )
    .addOption(
      new Option('--durability <mode>', 'normal: a commit survives a crash of the process; full: also a power cut (an fsync per commit)')
        .choices(['normal', 'full'])
        .default('normal'),
    )
    .option('--store-wait <duration>', 'how long to wait for a store that is locked by another process before stopping with exit 4 (default 60s)', parseDurationOption)
    .option('--inspect', 'serve the visual inspector of the store beside the run and print its URL', false)
    .option('--otel', 'export OpenTelemetry spans and metrics over OTLP/HTTP as the OTEL_* variables say (OTEL_EXPORTER_OTLP_ENDPOINT, default http://localhost:4318)', false)
    .action(async (plan: string, options: { store?: string; workers?: number; heartbeatTtl?: number; leaseTtl?: number; turnGrace?: number; storeWait?: number; durability: 'normal' | 'full'; inspect: boolean; otel: boolean }) => {
      exitCode = await (await import('./runCommand.js')).runCommand(
        {
          plan,
          ...(options.store === undefined ? (process.env.STATECREW_STORE === undefined ? {} : { store: process.env.STATECREW_STORE }) : { store: options.store }),
          ...(options.workers === undefined ? {} : { workers: options.workers }),
          ...(options.heartbeatTtl === undefined ? {} : { heartbeatTtlMs: options.heartbeatTtl }),
          ...(options.leaseTtl === undefined ? {} : { leaseTtlMs: options.leaseTtl }),
          ...(options.turnGrace === undefined ? {} : { turnGraceMs: options.turnGrace }),
          ...(options.storeWait === undefined ? {} : { storeRetryMs: options.storeWait }),
          durability: options.durability,
          inspect: options.inspect,
          otel: options.otel,
        },
        io,
      );
    });

  program
    .command('status')
    .description('print every milestone, unit, worker, lease and dispatch of a store')
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--json', 'print one JSON object', false)
    .action(async (options: { store: string; json: boolean }) => {
      exitCode = await (await import('./statusCommand.js')).statusCommand(options, io);
    });

  const control = (name: string, description: string) =>
    program.command(name).description(description).option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE);
  control('stop', 'stop one worker (--worker) or every runtime on the store: kill, verify gone, then record')
    .option('--worker <id>', 'only this worker; its unit goes back to pending without using an attempt')
    .action(async (options: { store: string; worker?: string }) => {
      exitCode = await (await import('./controlCommands.js')).stopCommand(options, io);
    });
  control('pause', 'start no new turns (running turns finish); persisted, survives restarts').action(async (options: { store: string }) => {
    exitCode = await (await import('./controlCommands.js')).pauseCommand(options, io);
  });
  control('resume', 'lift a pause').action(async (options: { store: string }) => {
    exitCode = await (await import('./controlCommands.js')).resumeCommand(options, io);
  });
  control('cancel', 'cancel a unit and its running turn; units that depend on it are blocked')
    .argument('<unitId>', 'unit to cancel')
    .action(async (unitId: string, options: { store: string }) => {
      exitCode = await (await import('./controlCommands.js')).cancelCommand(unitId, options, io);
    });
  control('send', "queue a message: the input of the unit's next turn")
    .argument('<target>', 'a unit id, or a worker id (its current or last unit)')
    .argument('<text>', 'the message')
    .action(async (target: string, text: string, options: { store: string }) => {
      exitCode = await (await import('./controlCommands.js')).sendCommand(target, text, options, io);
    });

  program
    .command('doctor')
    .description('check a store: integrity, stale runtimes, expired leases, orphaned dispatches and processes, quarantined rows')
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--json', 'print one JSON object', false)
    .option('--fix', 'apply the reconciliation: take over stale runtimes, kill orphans, release expired leases', false)
    .action(async (options: DoctorCommandOptions) => {
      exitCode = await (await import('./doctorCommand.js')).doctorCommand(options, io);
    });

  program
    .command('inspect')
    .description('serve a web page on 127.0.0.1 showing the fleet, every actor, its statechart and its journal, live, with actions; prints its URL')
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--port <n>', 'TCP port (default: any free port)', parsePort)
    .option('--open', "open the page in the system's browser", false)
    .option('--read-only', 'serve without actions (stop, pause, resume, cancel, send): the store is opened read-only', false)
    .action(async (options: InspectCommandOptions) => {
      exitCode = await (await import('./inspectCommand.js')).inspectCommand(options, io);
    });

  program
    .command('journal')
    .description('print the persisted transitions of every actor, oldest first')
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--actor <id>', 'only the transitions of this actor')
    .addOption(new Option('--kind <kind>', 'only the transitions of actors of this kind').choices(JOURNAL_KINDS))
    .option('--since <time>', 'only transitions at or after an ISO-8601 time (2026-11-21T06:00:00Z) or a duration ago (10m, 2h)', parseSince)
    .option('--limit <n>', 'only the N most recent transitions', parseLimit)
    .option('--json', 'print JSON Lines, one object per transition', false)
    .addOption(new Option('--snapshots', 'add each snapshot to the JSON Lines (implies --json)').implies({ json: true }))
    .action(async (options: JournalCommandOptions) => {
      exitCode = await (await import('./journalCommand.js')).journalCommand(options, io);
    });

  program
    .command('logs')
    .description("print a unit's turn log (its latest dispatch's, or one attempt's)")
    .argument('<unitId>', 'unit id, as in the plan')
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--attempt <n>', 'the log of attempt N (the latest dispatch with that number)', parseAttempt)
    .option('--follow', 'keep printing appended output until the turn is over; Ctrl-C exits 130', false)
    .action(async (unitId: string, options: LogsCommandOptions) => {
      exitCode = await (await import('./logsCommand.js')).logsCommand(unitId, options, io);
    });

  program
    .command('compact')
    .description("drop what retention drops of finished work now (journal, stored turn output, finished actors' rows); --vacuum gives the space back")
    .option('--store <path|url>', 'store: a SQLite file or a postgres:// URL (default: $STATECREW_STORE, else .statecrew/statecrew.db)', DEFAULT_STORE)
    .option('--journal <period>', 'drop the journal of actors that finished longer ago than this (0s, 12h, 7d)', parseRetentionOption)
    .option('--turn-output <period>', 'drop the stored turn output of dispatches that finished longer ago than this', parseRetentionOption)
    .option('--actors <period>', "drop finished actors' own rows (final snapshots) older than this; status keeps every unit", parseRetentionOption)
    .option('--vacuum', 'then give the freed space back to the file system (rewrites a SQLite file; waits while a runtime writes)', false)
    .action(async (options: CompactCommandOptions) => {
      exitCode = await (await import('./compactCommand.js')).compactCommand(options, io);
    });

  program
    .command('chart')
    .description('draw a built-in statechart from its definition, as SVG or Mermaid text')
    .addArgument(new Argument('<machine>', 'which statechart').choices(CHART_CHOICES))
    .addOption(new Option('--format <format>', 'svg: a standalone SVG document; mermaid: stateDiagram-v2 text').choices(['svg', 'mermaid']).default('svg'))
    .option('--out <file>', 'write to this file (its folder is created) instead of stdout')
    .action(async (machine: ChartedMachineName, options: { format: ChartFormat; out?: string }) => {
      exitCode = await (await import('./chartCommand.js')).chartCommand({ machine, format: options.format, ...(options.out === undefined ? {} : { out: options.out }) }, io);
    });

  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    }
    if (
      error instanceof PlanError || error instanceof StoreNotFoundError || error instanceof StoreCorruptError
      || error instanceof StoreVersionError || error instanceof StoreConnectionError || error instanceof UsageError || error instanceof GitMissingError
    ) {
      io.stderr.write(`statecrew: ${error.message}\n`);
      return EXIT.invalidInput;
    }
    if (error instanceof StoreFailedError || error instanceof StoreUnavailableError) {
      io.stderr.write(`statecrew: ${error.message}; the store is unchanged — fix the cause and run the command again\n`);
      return EXIT.storeFailure;
    }
    if (error instanceof StatecrewError) {
      io.stderr.write(`statecrew: ${error.message}\n`);
      return EXIT.failed;
    }
    throw error;
  }
}

function parsePositiveInt(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > MAX_WORKERS) {
    throw new InvalidArgumentError(`expected an integer from 1 to ${MAX_WORKERS}, got "${value}"`);
  }
  return parsed;
}

function parseRetentionOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms > MAX_RETENTION_MS) throw new InvalidArgumentError(`expected a period such as 0s, 12h or 7d (at most 3650d), got "${value}"`);
  return ms;
}

function parseDurationOption(value: string): number {
  const ms = parseDuration(value);
  if (ms === undefined || ms <= 0) throw new InvalidArgumentError(`expected a duration such as 500ms, 30s, 2m or 1h, got "${value}"`);
  return ms;
}

function parsePort(value: string): number {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) throw new InvalidArgumentError(`expected a port from 0 to 65535, got "${value}"`);
  return parsed;
}
