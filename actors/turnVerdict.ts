/**
 * How a turn of an agent (`protocol: stream-json` or `codex-json`) is judged from the summary of
 * its event stream (`actors/streamJson.ts`): success or failure and why, whether the API rather
 * than the agent failed it (a transient failure), and what it cost.
 */
import { describeExit, roundUsd, truncate, type PermissionDenial, type StreamJsonResult, type StreamJsonSummary, type TokenUsage } from './streamJson.js';

/** Longest failure reason, in UTF-16 units. */
const MAX_REASON_CHARS = 500;

/** How a turn treats tools the CLI denied: `fail` the turn (the default), or `accept` them (record only). */
export type PermissionDenialPolicy = 'fail' | 'accept';

/** What {@link turnVerdict} weighs besides the stream and the exit code. */
export interface VerdictOptions {
  /** The turn's last stderr line: the CLI's own explanation when it exits non-zero before any `result`. */
  readonly lastStderrLine?: string | null;
  /** @default 'fail' */
  readonly permissionDenials?: PermissionDenialPolicy;
}

/**
 * Whether a turn succeeded, from its stream and its exit code (`null`: killed by a signal).
 * Fails, first match wins: a `result` with `is_error` or an `error*` subtype, even on exit 0
 * (`result <subtype> (is_error): <text or errors>`); a non-zero or missing exit code
 * (`exited with code N: <last stderr line>`, plus the first malformed line if any); a malformed
 * line (`malformed stream-json at line N: …`); no `result` (`exited 0 without a result event`);
 * denied tools under the `fail` policy (`permission denied: Write /path, …`).
 */
export function turnVerdict(summary: StreamJsonSummary, exitCode: number | null, options: VerdictOptions = {}): { ok: boolean; reason: string } {
  const { result } = summary;
  const firstMalformed = summary.malformed[0];
  const malformedReason = firstMalformed === undefined ? null : `malformed stream-json at line ${firstMalformed.line}: ${firstMalformed.error}`;
  if (result !== null && (result.isError || result.subtype.startsWith('error'))) {
    const detail = (result.text?.trim() || result.errors.join('; ').trim() || 'no result text').replace(/\s+/g, ' ');
    const exit = exitCode === 0 ? '' : `, ${describeExit(exitCode)}`;
    return { ok: false, reason: truncate(`result ${result.subtype}${result.isError ? ' (is_error)' : ''}${exit}: ${detail}`, MAX_REASON_CHARS) };
  }
  if (exitCode !== 0) {
    const stderr = options.lastStderrLine?.trim() ?? '';
    const exit = stderr === '' ? describeExit(exitCode) : `${describeExit(exitCode)}: ${stderr}`;
    return { ok: false, reason: truncate([exit, malformedReason].filter((part) => part !== null).join('; '), MAX_REASON_CHARS) };
  }
  if (malformedReason !== null) return { ok: false, reason: malformedReason };
  if (result === null) return { ok: false, reason: 'exited 0 without a result event' };
  if (summary.permissionDenials.length > 0 && (options.permissionDenials ?? 'fail') === 'fail') {
    return { ok: false, reason: truncate(`permission denied: ${describeDenials(summary.permissionDenials)} (allow the tools in the command, e.g. --permission-mode acceptEdits or --allowedTools, or set permissionDenials: accept)`, MAX_REASON_CHARS) };
  }
  return { ok: true, reason: `result ${result.subtype}${result.numTurns === null ? '' : ` after ${result.numTurns} turns`}` };
}

/** `Write /a/b.txt, Bash npm test`: denied tools with their targets. */
export function describeDenials(denials: readonly PermissionDenial[]): string {
  return denials.map((denial) => (denial.target === null ? denial.toolName : `${denial.toolName} ${denial.target}`)).join(', ');
}

/** Why a turn failed when it is not the agent's fault: the API limited or failed it. */
export interface TransientApiFailure {
  readonly kind: 'rate_limited' | 'overloaded' | 'server_error';
  readonly status: number | null;
  /** ms since epoch, from a rejected `rate_limit_event`'s `resetsAt`. */
  readonly resetAt: number | null;
}

/**
 * Whether a failed turn's stream says the API, not the agent, failed it: a rejected
 * `rate_limit_event` (a subscription's usage limit; `resetsAt` gives the reset), or an error
 * `result` whose `api_error_status` is 429 (rate limited), 529 (overloaded) or another 5xx, or —
 * with no such result — the last `api_retry`'s status on a non-zero exit. `null` otherwise:
 * then the failure is the turn's own. Call it only for a turn that failed.
 */
export function transientApiFailure(summary: StreamJsonSummary, exitCode: number | null): TransientApiFailure | null {
  const rejected = summary.rateLimit !== null && summary.rateLimit.status === 'rejected' ? summary.rateLimit : null;
  const result = summary.result;
  const status = result !== null && result.isError ? result.apiErrorStatus : result === null && exitCode !== 0 ? summary.lastApiErrorStatus : null;
  if (rejected !== null) return { kind: 'rate_limited', status: status ?? 429, resetAt: rejected.resetsAt };
  if (status === 429) return { kind: 'rate_limited', status, resetAt: null };
  if (status === 529) return { kind: 'overloaded', status, resetAt: null };
  if (status !== null && status >= 500 && status <= 599) return { kind: 'server_error', status, resetAt: null };
  return null;
}

/** Where a turn's cost figure came from; see {@link turnCost}. */
export type TurnCostSource = 'since-last-result' | 'process-total';

/**
 * The turn's own cost in USD from its `result`, or `null` when the result reports no cost.
 * Decided from what the result says, never from a version number:
 * 1. `model_usage_since_last_result` present: its `costUSD` summed over models. A CLI that
 *    reports it (Claude Code 2.1.332) makes `total_cost_usd` and `modelUsage` a running total of
 *    the whole session, so a resumed session's turn would count the earlier turns again.
 * 2. Else `total_cost_usd`: the CLI process's own spend, which is what it covers without that
 *    field (Claude Code 1.0.128, 2.0.76 and 2.1.100, resumed sessions included).
 * Rounded to 1e-10 USD.
 */
export function turnCost(result: StreamJsonResult): { costUsd: number | null; source: TurnCostSource } {
  if (result.usageSinceLastResult !== null) return { costUsd: result.usageSinceLastResult.costUsd, source: 'since-last-result' };
  return { costUsd: result.totalCostUsd === null ? null : roundUsd(result.totalCostUsd), source: 'process-total' };
}

/** Adds two usages field by field; `null` (unknown) adds nothing, and two `null`s stay `null`. */
export function sumUsage(a: TokenUsage | null, b: TokenUsage | null): TokenUsage | null {
  if (a === null || b === null) return a ?? b;
  return {
    inputTokens: a.inputTokens + b.inputTokens,
    outputTokens: a.outputTokens + b.outputTokens,
    cacheCreationInputTokens: a.cacheCreationInputTokens + b.cacheCreationInputTokens,
    cacheReadInputTokens: a.cacheReadInputTokens + b.cacheReadInputTokens,
  };
}

/** Adds two costs in USD, rounded to 1e-10 USD so float noise does not pile up; `null` adds nothing. */
export function sumCost(a: number | null, b: number | null): number | null {
  if (a === null || b === null) return a ?? b;
  return roundUsd(a + b);
}
