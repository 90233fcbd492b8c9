import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { PlanError, StatecrewError, StoreCorruptError, StoreNotFoundError } from '../errors.js';
import { MAX_WORKERS } from '../plan/schema.js';
import { EXIT } from './exitCodes.js';
import { processIO, type CliIO } from './io.js';
import { runCommand } from './runCommand.js';
import { statusCommand } from './statusCommand.js';

const DEFAULT_STORE = '.statecrew/statecrew.db';

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
    .option('--store <path>', "SQLite store (default: the plan's `store`, else .statecrew/statecrew.db)")
    .option('--workers <n>', "size of the worker pool (default: the plan's `workers`)", parsePositiveInt)
    .action(async (plan: string, options: { store?: string; workers?: number }) => {
      exitCode = await runCommand(
        {
          plan,
          ...(options.store === undefined ? {} : { store: options.store }),
          ...(options.workers === undefined ? {} : { workers: options.workers }),
        },
        io,
      );
    });

  program
    .command('status')
    .description('print every milestone, unit, worker, lease and dispatch of a store')
    .option('--store <path>', 'SQLite store', DEFAULT_STORE)
    .option('--json', 'print one JSON object', false)
    .action((options: { store: string; json: boolean }) => {
      exitCode = statusCommand(options, io);
    });

  try {
    await program.parseAsync([...argv]);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? EXIT.ok : EXIT.invalidInput;
    }
    if (error instanceof PlanError || error instanceof StoreNotFoundError || error instanceof StoreCorruptError) {
      io.stderr.write(`statecrew: ${error.message}\n`);
      return EXIT.invalidInput;
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
