import { closeSync, existsSync, openSync, readSync, watch } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { isLocalHost } from '../../actors/hostIdentity.js';
import { isProcessAlive } from '../../actors/processes.js';
import { turnStatusPath } from '../../actors/turnStatus.js';
import type { Store } from '../../persistence/store.js';
import { openStoreAt, resolveStoreLocation } from '../../persistence/openStore.js';
import type { DispatchProjection } from '../../persistence/types.js';
import { systemClock, type Clock } from '../../core/clock.js';
import { ensureError } from '../../core/errors.js';
import { readStoredPlan } from '../storedPlan.js';
import { EXIT } from './exitCodes.js';
import { printStoredLog } from './storedLog.js';
import type { CliIO } from './io.js';

/** Options of {@link logsCommand}, as parsed from `statecrew logs`. */
export interface LogsCommandOptions {
  /** Path of the SQLite store, relative to `io.cwd`. */
  readonly store: string;
  /** Print the log of this attempt (1-based; the latest dispatch with that number) instead of the latest dispatch's. */
  readonly attempt?: number;
  /** Keep printing what is appended until the turn is over (see {@link logsCommand}). @default false */
  readonly follow?: boolean;
}

/** What `--follow` waits on; injected by tests. */
export interface LogsFollowHooks {
  /** Paces the store polls. @default systemClock */
  readonly clock?: Clock;
  /** Aborting it stops following with exit code 130. @default SIGINT of this process */
  readonly interrupt?: AbortSignal;
}

/** Interval between two reads of the followed dispatch's row, in ms (the store is polled no more often). */
export const FOLLOW_POLL_MS = 500;
/** Bytes of the log read (and written to stdout) at a time. */
const CHUNK_BYTES = 64 * 1024;
/** Dispatch states after which nothing more is written to the dispatch's log. */
const FINAL_STATES: ReadonlySet<string> = new Set(['completed', 'failed', 'stuck', 'canceled']);
/** Unit ids listed at most in the message for an unknown unit. */
const KNOWN_UNITS_SHOWN = 10;

/**
 * `statecrew logs <unitId> [--store PATH] [--attempt N] [--follow]`: prints the log file of
 * one of a unit's turns, as the turn wrote it (its output, between the runner's `# …` header
 * and footer lines): by default the latest dispatch's, with `attempt` the latest dispatch
 * with that attempt number. The log's path comes from the dispatch's row (`logPath`). When
 * the file is not on this host, the copy the runtime kept in the store is printed (its last
 * 8 MiB, `storedLog.ts`), followed there with `follow`; without one, the message names the host
 * and path that hold the file.
 *
 * With `follow`, it then keeps printing what is appended to the log — woken by `fs.watch`
 * on the file, and at every store poll in case an event was missed — until the turn is over,
 * and exits 0. The turn is over when the dispatch's row is in a final state (`completed`,
 * `failed`, `stuck`, `canceled`) and the turn's status file (`<logPath>.status.json`) exists;
 * a turn whose shim was killed by SIGKILL writes no status file, so a final row whose
 * recorded shim is no longer alive counts as over too. The row is final only once the turn's
 * processes were verified gone and its footer written (kill, verify, then record), so the
 * last bytes read are the footer. The store is read every {@link FOLLOW_POLL_MS} ms on a
 * timer, never on file events; a new attempt of the unit is not followed. `interrupt`
 * (SIGINT, Ctrl-C) stops following: exit 130.
 *
 * Opens the store read-only and never creates it.
 * @returns exit code 0; 1 when the chosen dispatch never started a turn (no log yet), or its
 *   log file is not here: gone, or on the other host its turn ran on (the message names that
 *   host and the path); 2 for an unknown unit or attempt (the message on stderr says which);
 *   130 when following was interrupted.
 * @throws StoreNotFoundError when there is no store at the path (the CLI exits 2).
 * @throws StoreCorruptError when the file is not a store or its recorded plan is unreadable (the CLI exits 2).
 * @throws the file-system error when the log cannot be read or watched.
 */
export async function logsCommand(unitId: string, options: LogsCommandOptions, io: CliIO, hooks: LogsFollowHooks = {}): Promise<number> {
  const file = resolveStoreLocation(options.store, io.cwd);
  // Listening from the start: a Ctrl-C right after the first output must not find SIGINT's default action.
  const sigint = options.follow === true && hooks.interrupt === undefined ? sigintSignal() : null;
  let store: Store;
  try {
    store = openStoreAt(file, { readonly: true });
  } catch (error) {
    sigint?.dispose();
    throw error;
  }
  try {
    const chosen = await chooseDispatch(store, file, unitId, options.attempt);
    if ('exitCode' in chosen) {
      io.stderr.write(`statecrew: ${chosen.message}\n`);
      return chosen.exitCode;
    }
    const { dispatch, logPath } = chosen;
    let fd: number;
    try {
      fd = openSync(logPath, 'r');
    } catch (error) {
      if (!existsSync(logPath)) {
        // Not on this host: the copy the runtime kept in the store, if any.
        const interrupt = hooks.interrupt ?? sigint?.signal ?? new AbortController().signal;
        const stored = await printStoredLog({
          store, dispatch, io, follow: options.follow === true, clock: hooks.clock ?? systemClock, interrupt, pollMs: FOLLOW_POLL_MS, finalStates: FINAL_STATES,
        });
        if (stored !== null) return stored;
        io.stderr.write(`statecrew: ${await describeMissingLog(store, dispatch, logPath)}\n`);
        return EXIT.failed;
      }
      throw error;
    }
    try {
      const reader = createLogReader(fd, io);
      reader.pump();
      if (options.follow !== true) {
        reader.end();
        return EXIT.ok;
      }
      const interrupt = hooks.interrupt ?? sigint?.signal ?? new AbortController().signal;
      return await follow({ store, dispatch, logPath, reader, clock: hooks.clock ?? systemClock, interrupt });
    } finally {
      closeSync(fd);
    }
  } finally {
    sigint?.dispose();
    await store.close();
  }
}

type Choice = { readonly dispatch: DispatchProjection; readonly logPath: string } | { readonly exitCode: number; readonly message: string };

/** The dispatch whose log is asked for, or the exit code and message saying why there is none. */
async function chooseDispatch(store: Store, file: string, unitId: string, attempt: number | undefined): Promise<Choice> {
  const dispatches = await store.listDispatches(unitId);
  if (dispatches.length === 0) {
    const units = (await readStoredPlan(store))?.milestones.flatMap((m) => m.units.map((u) => u.id)) ?? [];
    if (units.includes(unitId)) return { exitCode: EXIT.failed, message: `unit ${unitId} has not been dispatched yet: no log` };
    const known = units.length === 0 ? 'the store has no units'
      : `known units: ${units.slice(0, KNOWN_UNITS_SHOWN).join(', ')}${units.length > KNOWN_UNITS_SHOWN ? ', …' : ''}`;
    return { exitCode: EXIT.invalidInput, message: `unknown unit ${unitId} in ${file} (${known})` };
  }
  // listDispatches returns them in creation order: the last one is the latest.
  const dispatch = (attempt === undefined ? dispatches : dispatches.filter((d) => d.attempt === attempt)).at(-1);
  if (dispatch === undefined) {
    const attempts = [...new Set(dispatches.map((d) => d.attempt))].sort((a, b) => a - b).join(', ');
    return { exitCode: EXIT.invalidInput, message: `unit ${unitId} has no attempt ${attempt} (attempts: ${attempts})` };
  }
  if (dispatch.logPath === null) {
    return { exitCode: EXIT.failed, message: `${describeDispatch(dispatch)} never started a turn (${dispatch.state}): no log` };
  }
  return { dispatch, logPath: dispatch.logPath };
}

/**
 * Why the log at `logPath` cannot be read here: the turn ran under another host identity (its
 * log is on that host: named with the hostname its runtime registered, and the path), or the
 * file is gone.
 */
async function describeMissingLog(store: Store, dispatch: DispatchProjection, logPath: string): Promise<string> {
  if (dispatch.hostId === null || isLocalHost(dispatch.hostId)) return `the log of ${describeDispatch(dispatch)} is gone: no file at ${logPath}`;
  const runtime = (await store.listRuntimes()).find((r) => r.hostId === dispatch.hostId);
  const host = runtime === undefined ? dispatch.hostId : `${runtime.host} (${dispatch.hostId})`;
  return `the log of ${describeDispatch(dispatch)} is on host ${host}, at ${logPath}: run \`statecrew logs\` there, or read the file`;
}

function describeDispatch(dispatch: DispatchProjection): string {
  return `attempt ${dispatch.attempt} of unit ${dispatch.unitId} (dispatch ${dispatch.id})`;
}

/** Copies a log to stdout from where it left off, decoding UTF-8 across chunk boundaries. */
interface LogReader {
  /** Writes every byte appended since the last call. @throws the read error */
  pump(): void;
  /** Writes what the decoder still holds (an incomplete character at the end of the file). */
  end(): void;
}

function createLogReader(fd: number, io: CliIO): LogReader {
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.alloc(CHUNK_BYTES);
  let offset = 0;
  return {
    pump() {
      for (;;) {
        const read = readSync(fd, buffer, 0, buffer.length, offset);
        if (read === 0) return;
        offset += read;
        const text = decoder.write(buffer.subarray(0, read));
        if (text !== '') io.stdout.write(text);
      }
    },
    end() {
      const rest = decoder.end();
      if (rest !== '') io.stdout.write(rest);
    },
  };
}

interface FollowOptions {
  readonly store: Store;
  readonly dispatch: DispatchProjection;
  readonly logPath: string;
  readonly reader: LogReader;
  readonly clock: Clock;
  readonly interrupt: AbortSignal;
}

/** Prints what is appended to the log until the turn is over (exit 0) or following is interrupted (exit 130). */
function follow(options: FollowOptions): Promise<number> {
  const { store, dispatch, logPath, reader, clock, interrupt } = options;
  const statusFile = turnStatusPath(logPath);
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let timer: unknown = null;
    const watcher = watch(logPath);
    const settle = (outcome: { code: number } | { error: Error }): void => {
      if (settled) return;
      settled = true;
      watcher.close();
      clock.clearTimeout(timer);
      interrupt.removeEventListener('abort', onInterrupt);
      if ('error' in outcome) reject(outcome.error);
      else resolve(outcome.code);
    };
    const pump = (): void => {
      if (settled) return;
      try {
        reader.pump();
      } catch (error) {
        settle({ error: ensureError(error) });
      }
    };
    const onInterrupt = (): void => settle({ code: EXIT.sigint });
    const check = async (): Promise<boolean> => {
      reader.pump();
      if (!(await turnIsOver(store, dispatch, statusFile))) return false;
      // The row went final after the footer was written: this read ends with it.
      reader.pump();
      reader.end();
      return true;
    };
    const poll = (): void => {
      if (settled) return;
      check().then(
        (over) => {
          if (over) settle({ code: EXIT.ok });
          else if (!settled) timer = clock.setTimeout(poll, FOLLOW_POLL_MS);
        },
        (error: unknown) => settle({ error: ensureError(error) }),
      );
    };
    watcher.on('change', pump);
    watcher.on('error', (error) => settle({ error }));
    interrupt.addEventListener('abort', onInterrupt, { once: true });
    if (interrupt.aborted) onInterrupt();
    else poll();
  });
}

/**
 * True once nothing more will be written to the dispatch's log: its row is final and its
 * status file exists, or (no status: the shim was SIGKILLed) its recorded shim is gone.
 */
async function turnIsOver(store: Store, dispatch: DispatchProjection, statusFile: string): Promise<boolean> {
  const row = (await store.listDispatches(dispatch.unitId)).find((d) => d.id === dispatch.id);
  // A row never disappears; should it, its turn can no longer be written to either.
  if (row === undefined) return true;
  if (!FINAL_STATES.has(row.state)) return false;
  if (existsSync(statusFile)) return true;
  // Under another host identity the pid names nothing here: the final row is all there is.
  return row.pid === null || !isLocalHost(row.hostId) || !isProcessAlive(row.pid, row.procStartTime);
}

/** An abort signal raised by this process's next SIGINT (Ctrl-C); `dispose` removes the listener. */
function sigintSignal(): { readonly signal: AbortSignal; readonly dispose: () => void } {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.once('SIGINT', onSigint);
  return { signal: controller.signal, dispose: () => process.off('SIGINT', onSigint) };
}

// Loaded by the CLI before it knows which command runs: kept apart from this module's imports.
export { parseAttempt } from './optionParsers.js';
