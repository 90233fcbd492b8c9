import type { DispatchProjection } from '../persistence/types.js';
import type { UnitSpec } from './plan/types.js';

/**
 * The rules of a unit's attempts: which failures count against `maxAttempts`, when the next
 * attempt may start (backoff, API reset times), and what makes two failures "the same" for
 * stuck detection. Pure functions of dispatch rows; `progress.ts` applies them.
 */

/** Dispatch states in which a dispatch is active (not ended). */
export const ACTIVE_DISPATCH_STATES: ReadonlySet<string> = new Set(['pending', 'claimed', 'running']);

/** Transient failures in a row at the end of a unit's dispatches. */
export interface TransientStreak {
  readonly count: number;
  /** When the first of them ended (ms since epoch). */
  readonly since: number;
  /** The latest of them. */
  readonly last: DispatchProjection;
}

/** The transient failures in a row at the end of `dispatches` (ended ones; an active or canceled one is skipped), or `null`. */
export function transientStreak(dispatches: readonly DispatchProjection[]): TransientStreak | null {
  let count = 0;
  let since = 0;
  let last: DispatchProjection | null = null;
  for (let i = dispatches.length - 1; i >= 0; i--) {
    const dispatch = dispatches[i] as DispatchProjection;
    if (ACTIVE_DISPATCH_STATES.has(dispatch.state) || dispatch.state === 'canceled' || dispatch.state === 'quarantined') continue;
    if (dispatch.state !== 'failed' || dispatch.transient === null) break;
    count++;
    since = dispatch.endedAt ?? 0;
    last ??= dispatch;
  }
  return last === null ? null : { count, since, last };
}

/** Longest wait before a turn that the API failed without a reset time is run again, in ms: 15 min. */
export const MAX_TRANSIENT_BACKOFF_MS = 15 * 60_000;

/**
 * When a unit whose latest turns the API failed runs again (ms since epoch): at the reset time
 * the API gave, else after an exponential backoff from its last end — `retryBackoffMs` doubling
 * with each failure in the streak, capped at {@link MAX_TRANSIENT_BACKOFF_MS} — with equal
 * jitter (half the delay, plus up to the other half) drawn from `seed` (the next dispatch's id),
 * so that the figure is the same whenever it is computed and units do not retry in lockstep.
 */
export function transientRetryAt(spec: UnitSpec, streak: TransientStreak, seed: string): number {
  if (streak.last.retryAt !== null) return streak.last.retryAt;
  const delay = Math.min(MAX_TRANSIENT_BACKOFF_MS, spec.retryBackoffMs * 2 ** (streak.count - 1));
  return (streak.last.endedAt ?? 0) + Math.round(delay / 2 + (delay / 2) * unitInterval(seed));
}

/** A number in [0, 1) from a string (FNV-1a), the same for the same string. */
function unitInterval(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 2 ** 32;
}

/**
 * Earliest start of the next attempt: the last failure's end plus
 * `retryBackoff · 2^(failures-1)` (1s, 2s, 4s… with the default backoff); `null` (at once)
 * when no attempt has failed.
 */
export function nextAttemptAt(spec: UnitSpec, failures: number, lastEndedAt: number | null): number | null {
  if (failures === 0 || lastEndedAt === null) return null;
  return lastEndedAt + spec.retryBackoffMs * 2 ** (failures - 1);
}

/**
 * The signature of a failed attempt, compared by stuck detection: its exit code (or how it
 * ended when it has none: `timeout`, `stalled`, a signal) and its last line of stderr.
 */
export function failureSignature(failure: {
  readonly outcome: string | null;
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly lastStderrLine: string | null;
}): string {
  const how = failure.exitCode !== null ? `exit code ${failure.exitCode}` : (failure.signal ?? failure.outcome ?? 'unknown');
  const kind = failure.exitCode === null && failure.outcome !== null && failure.outcome !== 'signaled' ? `${failure.outcome} ` : '';
  return `${kind}${how}: ${failure.lastStderrLine ?? '(no stderr)'}`;
}

/**
 * A failed or stuck dispatch counts against `maxAttempts` when its turn ran and ended badly.
 * It does not when the failure was not the unit's: the turn was `lost` with the runtime that
 * ran it, or the dispatch was abandoned or fenced (no turn outcome recorded: its worker was
 * gone, or its lease had passed to a newer holder), or the API failed the turn (`transient`).
 */
export function countsAsFailure(dispatch: DispatchProjection): boolean {
  if (dispatch.state === 'stuck') return true;
  return dispatch.state === 'failed' && dispatch.outcome !== null && dispatch.outcome !== 'lost' && dispatch.transient === null;
}
