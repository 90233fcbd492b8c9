/**
 * The turn shim: a small standalone program that owns one turn's command so that the
 * command's fate can still be learned when the runtime process that started it is gone
 * (the role conmon plays for a container).
 *
 * Usage: `node turnShim.js <statusFile> <logFile> [--cwd <dir>] [--stdout <file>]
 * [--keepalive <file> --kill-grace <ms>] -- <program> [args...]`
 * (`--stdout`: also append the command's stdout alone to `<file>`, for protocols such as
 * stream-json whose events must not be mixed with stderr; `--keepalive`: the turn's keep-alive
 * file, `actors/turnKeepAlive.ts`)
 *
 * The runtime spawns the shim detached (its own process group) with the turn's
 * environment. The shim
 * - spawns `<program> <args>` in its own process group (not detached), in `<dir>` (default:
 *   the shim's working directory), with the shim's environment and stdin (`inherit`), then
 *   closes its own stdin so that a command that exits without reading its input breaks the
 *   runtime's pipe at once;
 * - appends every chunk of the command's stdout and stderr to `<logFile>` as it arrives
 *   (synchronous writes, so memory stays bounded by one chunk), counting the bytes and
 *   keeping the last non-empty stderr line (at most 1 KiB);
 * - when the command exits, drains its pipes (until they close, or stay quiet for
 *   {@link DRAIN_QUIET_MS}, at most {@link DRAIN_MAX_MS} after the exit: a grandchild may hold
 *   them open forever), writes the status file atomically (`actors/turnStatus.ts`) and exits
 *   with the command's exit code, or 128 + n for signal n;
 * - when the command cannot be started, writes the status file with `spawnError` and exits 127;
 * - with `--keepalive`: reads the keep-alive file every {@link KEEPALIVE_POLL_MS}; once the
 *   instant it holds has passed (or the file is gone), no runtime watches the turn any more, so
 *   the shim kills it: SIGTERM to its process group, SIGKILL to the command after `--kill-grace`
 *   ms, then, once the status (with `keepAliveLapsedAt`) is written, SIGKILL to the whole group,
 *   itself included. So the turn is gone at most poll + kill grace + drain (1 s) after the
 *   keep-alive's instant, however its runtime died.
 *
 * It ignores SIGHUP (the runtime's terminal going away is no reason to end a turn) and
 * SIGTERM: a kill of the turn's process group reaches the command too, and the shim stays to
 * log the command's last words and record how it ended; it exits right after the command. A
 * SIGKILL of the group ends both, and then no status file is written. The shim writes nothing
 * to its own stdout or stderr; an uncaught failure of the shim itself (which leaves no status
 * file) reaches stderr with Node's usual trace, which the runtime points at the log.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import { KEEPALIVE_POLL_MS, readKeepAlive } from './turnKeepAlive.js';
import { createLineTail } from './turnLineTail.js';
import { describeSpawnFailure, STDERR_LINE_LIMIT_BYTES, writeTurnStatus, type TurnStatus } from './turnStatus.js';

/** The turn's key from the runtime (`STATECREW_TURN_KEY`), recorded in the status file; `null` without one. */
const TURN_KEY = process.env.STATECREW_TURN_KEY ?? null;
/** After the command exits, the pipes count as drained once they stay silent this long, in ms. */
const DRAIN_QUIET_MS = 100;
/** After the command exits, the shim stops reading its pipes after this long at most, in ms. */
const DRAIN_MAX_MS = 1_000;
/** Exit code of the shim when the command could not be started (as a shell does for "command not found"). */
const SPAWN_FAILED_EXIT_CODE = 127;
/** Exit code of the shim for a malformed command line. */
const USAGE_EXIT_CODE = 2;

const OPTIONS = new Set(['--cwd', '--stdout', '--keepalive', '--kill-grace']);

interface ShimArguments {
  readonly statusFile: string;
  readonly logFile: string;
  readonly cwd: string | null;
  readonly stdoutFile: string | null;
  readonly keepAliveFile: string | null;
  /** SIGTERM to SIGKILL when the keep-alive lapsed, in ms. */
  readonly killGraceMs: number;
  readonly program: string;
  readonly args: readonly string[];
}

/** Parses the shim's argv (after `node turnShim.js`); `null` when it does not have the documented shape. */
function parseArguments(argv: readonly string[]): ShimArguments | null {
  const separator = argv.indexOf('--');
  if (separator < 0) return null;
  const [statusFile, logFile, ...options] = argv.slice(0, separator);
  const [program, ...args] = argv.slice(separator + 1);
  if (statusFile === undefined || logFile === undefined || program === undefined) return null;
  const values = new Map<string, string>();
  for (let i = 0; i < options.length; i += 2) {
    const flag = options[i];
    const value = options[i + 1];
    if (flag === undefined || !OPTIONS.has(flag) || value === undefined || values.has(flag)) return null;
    values.set(flag, value);
  }
  const killGraceMs = Number(values.get('--kill-grace') ?? 0);
  if (!Number.isFinite(killGraceMs) || killGraceMs < 0) return null;
  return {
    statusFile,
    logFile,
    cwd: values.get('--cwd') ?? null,
    stdoutFile: values.get('--stdout') ?? null,
    keepAliveFile: values.get('--keepalive') ?? null,
    killGraceMs,
    program,
    args,
  };
}

function main(argv: readonly string[]): void {
  // Ignoring a signal needs a listener; both are deliberately no-ops (see the module comment).
  process.on('SIGHUP', () => undefined);
  process.on('SIGTERM', () => undefined);

  const parsed = parseArguments(argv);
  if (parsed === null) {
    process.exitCode = USAGE_EXIT_CODE;
    return;
  }
  const { statusFile, logFile, program, args } = parsed;
  const cwd = parsed.cwd ?? process.cwd();
  const finishWithoutCommand = (spawnError: string): void => {
    writeTurnStatus(statusFile, {
      exitCode: null, signal: null, lastStderrLine: null, outputBytes: 0, endedAt: Date.now(), spawnError, logError: null, turnKey: TURN_KEY,
      keepAliveLapsedAt: null,
    });
    process.exit(SPAWN_FAILED_EXIT_CODE);
  };

  let logFd: number;
  let stdoutFd: number | null = null;
  try {
    logFd = openSync(logFile, 'a');
    if (parsed.stdoutFile !== null) stdoutFd = openSync(parsed.stdoutFile, 'a');
  } catch (error) {
    // No log, no turn: the command is not started, and the runtime learns why from the status.
    finishWithoutCommand(`log file ${logFile} cannot be opened: ${errorMessage(error)}`);
    return;
  }

  let child: ChildProcessByStdio<null, Readable, Readable>;
  try {
    child = spawn(program, args, { cwd, stdio: ['inherit', 'pipe', 'pipe'], shell: false });
  } catch (error) {
    // spawn() throws synchronously for arguments it cannot hand to the OS (e.g. a NUL byte).
    finishWithoutCommand(`spawn failed: ${errorMessage(error)}`);
    return;
  } finally {
    // The command holds its own copy of stdin; without ours, its exit breaks the runtime's pipe.
    closeSync(0);
  }
  if (child.pid === undefined) {
    // Node reports a failed spawn (ENOENT, EACCES, bad cwd) with an undefined pid and an 'error' event.
    child.once('error', (error) => finishWithoutCommand(describeSpawnFailure(error, cwd)));
    return;
  }
  superviseCommand(child, parsed, logFd, stdoutFd);
}

/** Copies the command's output to the log until it exits and its pipes drained, then records how it ended and exits. */
function superviseCommand(
  child: ChildProcessByStdio<null, Readable, Readable>,
  options: ShimArguments,
  logFd: number,
  stdoutFd: number | null,
): void {
  const { statusFile } = options;
  const tail = createLineTail(STDERR_LINE_LIMIT_BYTES);
  let outputBytes = 0;
  let logError: string | null = null;
  let exit: { code: number | null; signal: NodeJS.Signals | null; at: number } | null = null;
  let quietTimer: NodeJS.Timeout | null = null;
  let finished = false;
  let keepAliveLapsedAt: number | null = null;
  let keepAliveTimer: NodeJS.Timeout | null = null;

  const append = (chunk: Buffer): void => {
    outputBytes += chunk.length;
    if (logError !== null) return;
    try {
      for (let written = 0; written < chunk.length;) written += writeSync(logFd, chunk, written);
    } catch (error) {
      // The bytes are still read (the command must never block on a full pipe) but no longer logged.
      logError = errorMessage(error);
    }
  };
  const finish = (): void => {
    if (finished || exit === null) return;
    finished = true;
    if (quietTimer !== null) clearTimeout(quietTimer);
    if (keepAliveTimer !== null) clearTimeout(keepAliveTimer);
    child.stdout.destroy();
    child.stderr.destroy();
    const status: TurnStatus = {
      exitCode: exit.code,
      signal: exit.signal,
      lastStderrLine: tail.last(),
      outputBytes,
      endedAt: exit.at,
      spawnError: null,
      logError,
      turnKey: TURN_KEY,
      keepAliveLapsedAt,
    };
    writeTurnStatus(statusFile, status);
    closeSync(logFd);
    if (stdoutFd !== null) closeSync(stdoutFd);
    // No runtime will clean up after a lapsed turn: what is left of the group goes, and the shim with it.
    if (keepAliveLapsedAt !== null) signalGroup('SIGKILL');
    process.exit(exit.signal === null ? exit.code ?? 1 : 128 + (constants.signals[exit.signal] ?? 0));
  };
  const quietSoon = (): void => {
    if (exit === null) return;
    if (quietTimer !== null) clearTimeout(quietTimer);
    quietTimer = setTimeout(finish, DRAIN_QUIET_MS);
  };

  child.stdout.on('data', (chunk: Buffer) => {
    append(chunk);
    if (stdoutFd !== null && logError === null) {
      try {
        for (let written = 0; written < chunk.length;) written += writeSync(stdoutFd, chunk, written);
      } catch (error) {
        logError = `stdout copy failed: ${errorMessage(error)}`;
      }
    }
    quietSoon();
  });
  child.stderr.on('data', (chunk: Buffer) => {
    append(chunk);
    tail.push(chunk);
    quietSoon();
  });
  const pipesClosed = Promise.all([child.stdout, child.stderr].map((pipe) => new Promise((resolve) => pipe.once('close', resolve))));
  // A read error ends that pipe like a close does; the output lost with it is reported as a log error.
  const onPipeError = (error: Error): void => {
    logError ??= `output lost: ${error.message}`;
    quietSoon();
  };
  child.stdout.on('error', onPipeError);
  child.stderr.on('error', onPipeError);
  if (options.keepAliveFile !== null) {
    const file = options.keepAliveFile;
    const lapse = (): void => {
      keepAliveLapsedAt = Date.now();
      signalGroup('SIGTERM');
      keepAliveTimer = setTimeout(() => {
        if (exit === null) child.kill('SIGKILL');
      }, options.killGraceMs);
    };
    const check = (): void => {
      if (exit !== null) return;
      let validUntil: number | null;
      try {
        validUntil = readKeepAlive(file);
      } catch {
        // Unreadable (EACCES, EIO): the runtime cannot renew it either; the turn lapses as if it were gone.
        validUntil = null;
      }
      if (validUntil === null || Date.now() >= validUntil) lapse();
      else keepAliveTimer = setTimeout(check, Math.min(KEEPALIVE_POLL_MS, validUntil - Date.now()));
    };
    check();
  }
  child.once('exit', (code, signal) => {
    exit = { code, signal, at: Date.now() };
    quietSoon();
    setTimeout(finish, DRAIN_MAX_MS);
    void pipesClosed.then(finish);
  });
}

/** Sends `signal` to the shim's own process group (the turn's); the shim ignores SIGTERM. */
function signalGroup(signal: NodeJS.Signals): void {
  try {
    process.kill(-process.pid, signal);
  } catch (error) {
    // ESRCH: the group is already empty; nothing else can fail for the caller's own group.
    if (!(error instanceof Error && 'code' in error && error.code === 'ESRCH')) throw error;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

main(process.argv.slice(2));
