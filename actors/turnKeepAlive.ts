/**
 * A turn's keep-alive file: how the runtime watching a turn tells the turn's shim that it is
 * still there. The file's modification time is the instant (wall clock, ms since the epoch)
 * until which the turn may run; the runtime pushes it forward while its own heartbeat is
 * being recorded (`actors/keepAlive.ts`), and the shim (`native/turn-shim.c`) kills the turn
 * once that instant has passed, so that a turn never outlives its runtime by more than a
 * bounded grace unless another runtime adopts it (and renews it).
 *
 * A modification time is set with one `utimes(2)` and read with one `stat(2)`: a reader never
 * sees a half-written value. Both ends run on the same host, so they read the same wall clock.
 *
 * Loaded by the shim: Node built-ins only.
 */
import { closeSync, openSync, statSync, utimesSync } from 'node:fs';

/** How often the shim reads the keep-alive file, in ms: it starts the kill at most this late. */
export const KEEPALIVE_POLL_MS = 250;

/**
 * Upper bound of the grace between SIGTERM and SIGKILL when the shim kills a turn whose
 * keep-alive lapsed, in ms (the turn's own `killGraceMs`, or half the keep-alive grace, when
 * shorter): a lapsed turn must be gone within a known time, whatever the plan says.
 */
export const KEEPALIVE_KILL_CAP_MS = 5_000;

/** Where the keep-alive file of the turn logging to `logPath` lives: beside the log, `<logPath>.keepalive`. */
export function turnKeepAlivePath(logPath: string): string {
  return `${logPath}.keepalive`;
}

/**
 * Lets the turn run until `validUntilMs` (ms since the epoch): creates the file when missing and
 * sets its modification time.
 * @throws the file-system error when the file cannot be created or its times set.
 */
export function writeKeepAlive(path: string, validUntilMs: number): void {
  closeSync(openSync(path, 'a'));
  const seconds = validUntilMs / 1000;
  utimesSync(path, seconds, seconds);
}

/**
 * Until when the turn may run, in ms since the epoch; `null` when the file is gone (a turn
 * whose keep-alive file was removed counts as lapsed).
 * @throws the file-system error for anything but ENOENT.
 */
export function readKeepAlive(path: string): number | null {
  try {
    return statSync(path).mtimeMs;
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return null;
    throw error;
  }
}
