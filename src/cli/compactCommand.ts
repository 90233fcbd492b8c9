import fs from 'node:fs';
import { openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import { isPostgresUrl } from '../../persistence/postgres/pgTarget.js';
import type { Store } from '../../persistence/store.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { UsageError } from '../../core/errors.js';
import type { RetentionPolicy } from '../plan/types.js';
import { compactInBatches, cutoffs } from '../retention.js';
import { parseStoredPlan } from '../storedPlan.js';
import { EXIT } from './exitCodes.js';
import type { CliIO } from './io.js';

export interface CompactCommandOptions {
  /** Path of the SQLite store (relative to `io.cwd`) or a `postgres://` URL. */
  readonly store: string;
  /** Keep the journal of actors that finished less than this many ms ago; drop the rest. */
  readonly journal?: number;
  /** Keep the stored turn output of dispatches that finished less than this many ms ago. */
  readonly turnOutput?: number;
  /** Keep the rows of actors that finished less than this many ms ago. */
  readonly actors?: number;
  /** Then give the freed space back to the file system. */
  readonly vacuum: boolean;
}

/** Batches of one call at most (each a few short transactions), so a huge backlog still ends. */
const MAX_BATCHES = 1_000_000;

/**
 * `statecrew compact [--store PATH] [--journal 7d] [--turn-output 7d] [--actors 30d] [--vacuum]`:
 * applies retention once, to the end (docs/retention.md). The periods given replace the stored
 * plan's `retention`; without either, there is nothing to drop. Safe while runtimes run on the
 * store (only finished actors are touched); `--vacuum` waits for them to be idle (SQLite) and
 * rewrites the file. Never creates a store.
 * @param clock the time the periods count back from. @default systemClock
 * @returns 0 when done (also when nothing was dropped).
 * @throws UsageError when no period is given and the stored plan has none (the CLI exits 2, nothing dropped).
 * @throws StoreNotFoundError when there is no store at the path (exit 2); StoreFailedError / StoreUnavailableError (exit 4).
 */
export async function compactCommand(options: CompactCommandOptions, io: CliIO, clock: Pick<Clock, 'now'> = systemClock): Promise<number> {
  const location = resolveStoreLocation(options.store, io.cwd);
  const store = openStoreAt(location, { mustExist: true });
  try {
    const policy = await policyOf(options, store);
    const before = cutoffs(policy, clock.now());
    const total = await compactInBatches(() => store.compact({ before, limit: 500 }), MAX_BATCHES);
    io.stdout.write(
      `dropped ${total.journalRows} journal rows of ${total.journalActors} finished actors, `
        + `${total.turnOutputRows} turn output rows of ${total.turnOutputDispatches} finished dispatches, ${total.actors} finished actor rows\n`,
    );
    if (options.vacuum) {
      const sizeBefore = fileSize(location);
      await store.vacuum();
      const sizeAfter = fileSize(location);
      io.stdout.write(sizeBefore === null || sizeAfter === null ? 'vacuumed\n' : `vacuumed: ${mib(sizeBefore)} → ${mib(sizeAfter)}\n`);
    }
    return EXIT.ok;
  } finally {
    await store.close();
  }
}

/** The periods of the options, else of the stored plan. */
async function policyOf(options: CompactCommandOptions, store: Store): Promise<Omit<RetentionPolicy, 'everyMs'>> {
  const given = {
    ...(options.journal === undefined ? {} : { journalMs: options.journal }),
    ...(options.turnOutput === undefined ? {} : { turnOutputMs: options.turnOutput }),
    ...(options.actors === undefined ? {} : { actorsMs: options.actors }),
  };
  if (Object.keys(given).length > 0) return given;
  const record = await store.loadPlan();
  const stored = record === undefined ? undefined : parseStoredPlan(record).retention;
  if (stored === undefined || (stored.journalMs === undefined && stored.turnOutputMs === undefined && stored.actorsMs === undefined)) {
    throw new UsageError('nothing to compact: give --journal, --turn-output or --actors (e.g. --journal 7d), or record a plan with a retention');
  }
  return stored;
}

/** Bytes of a SQLite store with its WAL; `null` for a URL. */
function fileSize(location: string): number | null {
  if (isPostgresUrl(location)) return null;
  const size = (file: string) => (fs.existsSync(file) ? fs.statSync(file).size : 0);
  return size(location) + size(`${location}-wal`);
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
