import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../../core/duration.js';
import type { ActorKind } from '../../persistence/types.js';
import type { ChartedMachineName } from '../chart/docsCharts.js';

/**
 * The CLI's option parsers and choices: what `src/cli/main.ts` needs before it knows which
 * command runs, kept free of heavy imports (stores, XState, zod, the layout engine) so that a
 * command loads only its own modules (`statecrew status` starts in a third of the time).
 */

/** The values of `--kind`, in the order `--help` lists them. */
export const JOURNAL_KINDS: readonly ActorKind[] = ['worker', 'lease', 'dispatch', 'supervisor', 'workspace'];

/** The machines `statecrew chart` draws (checked against `CHARTED_MACHINE_NAMES` by test/chartCommand.test.ts). */
export const CHART_CHOICES = ['worker', 'lease', 'dispatch', 'supervisor', 'workspace'] as const satisfies readonly ChartedMachineName[];

/** Where `--since` starts the journal: at a time (ms since the Unix epoch), or `agoMs` milliseconds before now. */
export type JournalSince = { readonly at: number } | { readonly agoMs: number };

/** `2026-11-21T06:00Z`, `2026-11-21T06:00:00Z`, `2026-11-21T06:00:00.123+02:00`: a date, a time and a zone. */
const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * Parses `--since`: an ISO-8601 time with a zone (`2026-11-21T06:00:00Z`) or a duration ago
 * (`500ms`, `30s`, `10m`, `2h`, as in plan files).
 * @throws InvalidArgumentError for anything else (commander reports it naming the option; exit 2).
 */
export function parseSince(text: string): JournalSince {
  const agoMs = parseDuration(text);
  if (agoMs !== undefined) return { agoMs };
  const match = ISO_TIME.exec(text.trim());
  const at = Date.parse(text.trim());
  if (match !== null && !Number.isNaN(at) && isCalendarDate(Number(match[1]), Number(match[2]), Number(match[3]))) return { at };
  throw new InvalidArgumentError(
    `expected an ISO-8601 time with a zone such as 2026-11-21T06:00:00Z, or a duration ago such as 500ms, 30s, 10m or 2h; got "${text}"`,
  );
}

/** `Date.parse` rolls 2026-02-30 over to March 2; a `--since` like that is a typo, not a time. */
function isCalendarDate(year: number, month: number, day: number): boolean {
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

/**
 * Parses `--limit`: a whole number of at least 1.
 * @throws InvalidArgumentError for anything else (commander reports it naming the option; exit 2).
 */
export function parseLimit(text: string): number {
  const limit = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(`expected a whole number of rows of at least 1, got "${text}"`);
  }
  return limit;
}

/**
 * Parses `--attempt`: a whole number of at least 1.
 * @throws InvalidArgumentError otherwise (the CLI exits 2).
 */
export function parseAttempt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < 1) {
    throw new InvalidArgumentError(`expected an attempt number (1, 2, …), got "${value}"`);
  }
  return parsed;
}
