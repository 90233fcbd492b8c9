/**
 * The `codex` dialect of the agent event parser (`actors/streamJson.ts`): OpenAI Codex CLI's
 * `codex exec --json` stream, newline-delimited JSON on stdout, read into the same summary as
 * Claude Code's stream-json, so that a `protocol: codex-json` turn gets the same guarantees:
 * events recorded, the session (thread) captured and resumed, failure reasons, tokens, and the
 * stall watchdog's view of running tools.
 *
 * Source: the event types of Codex CLI, github.com/openai/codex, codex-rs/exec/src/exec_events.rs
 * (`ThreadEvent`: `thread.started` {thread_id}, `turn.started`, `turn.completed` {usage:
 * input_tokens, cached_input_tokens, output_tokens}, `turn.failed` {error: {message}},
 * `item.started` / `item.updated` / `item.completed` {item: {id, type, …}}, `error` {message});
 * item types `agent_message`, `reasoning`, `command_execution`, `file_change`, `mcp_tool_call`,
 * `web_search`, `todo_list`, `error`, … Read the way the real CLI (0.171.0, run offline by
 * test/codexCli.test.ts against a local mock of the Responses API) writes it:
 * - a resumed thread (`codex exec resume <thread id>`) reports `thread.started` with the same id,
 *   and its `turn.completed` usage is the thread's running total, earlier turns included;
 * - an API that keeps failing ends the turn with `turn.failed`, exit code 1, and a message such
 *   as `exceeded retry limit, last status: 429 Too Many Requests` (rate limited) or
 *   `We're currently experiencing high demand, …` (a 5xx); `error` events before it are
 *   reconnection notices, not the end.
 * Codex reports no cost in USD.
 */
import { z } from 'zod';
import { checked, type LineFacts, type StreamJsonResult, type TokenUsage } from './streamJson.js';
import type { TransientApiFailure } from './turnVerdict.js';

/** Items that are a tool at work while started and not completed: their silence is the tool's. */
const TOOL_ITEMS = new Set(['command_execution', 'mcp_tool_call', 'web_search', 'file_change', 'collab_tool_call']);

const ThreadStarted = z.object({ thread_id: z.string() }).loose();
const Usage = z.object({ input_tokens: z.number(), cached_input_tokens: z.number().nullish(), output_tokens: z.number() }).loose();
const TurnCompleted = z.object({ usage: Usage }).loose();
const TurnFailed = z.object({ error: z.object({ message: z.string() }).loose() }).loose();
const ItemEvent = z.object({ item: z.object({ id: z.string(), type: z.string() }).loose() }).loose();

/** Checks one line of a `codex exec --json` stream of a known `type`; any other type passes as it is. @internal */
export function checkCodexLine(type: string, value: unknown): LineFacts | { readonly error: string } {
  switch (type) {
    case 'thread.started':
      return checked(type, ThreadStarted.safeParse(value), (event) => ({ kind: 'init', sessionId: event.thread_id }));
    case 'turn.completed':
      return checked(type, TurnCompleted.safeParse(value), (event) => ({ kind: 'result', result: codexResult('success', false, usageOf(event.usage), null) }));
    case 'turn.failed':
      return checked(type, TurnFailed.safeParse(value), (event) => ({ kind: 'result', result: codexResult('turn.failed', true, null, event.error.message) }));
    case 'item.started':
      return checked(type, ItemEvent.safeParse(value), ({ item }) => ({ kind: 'assistant', toolUseIds: TOOL_ITEMS.has(item.type) ? [item.id] : [], apiErrorStatus: null }));
    case 'item.completed':
      return checked(type, ItemEvent.safeParse(value), ({ item }) => ({ kind: 'user', toolResultIds: [item.id] }));
    case 'item.updated':
      return checked(type, ItemEvent.safeParse(value), () => ({ kind: 'other' }));
    default:
      return { kind: 'other' };
  }
}

function usageOf(usage: z.infer<typeof Usage>): TokenUsage {
  return { inputTokens: usage.input_tokens, outputTokens: usage.output_tokens, cacheCreationInputTokens: 0, cacheReadInputTokens: usage.cached_input_tokens ?? 0 };
}

function codexResult(subtype: string, isError: boolean, usage: TokenUsage | null, text: string | null): StreamJsonResult {
  return {
    subtype,
    isError,
    sessionId: null,
    durationMs: null,
    durationApiMs: null,
    numTurns: null,
    totalCostUsd: null,
    usage,
    text,
    errors: [],
    apiErrorStatus: null,
    permissionDenials: [],
    modelUsage: null,
    usageSinceLastResult: null,
  };
}

/**
 * Whether a failed Codex turn was failed by the API, from its `turn.failed` message: a 429 or
 * "rate limit" is `rate_limited`; a 529, "overloaded", "high demand" or another 5xx is
 * `overloaded` / `server_error`. Codex gives no reset time. `null`: the turn's own failure.
 */
export function codexTransientFailure(result: StreamJsonResult | null): TransientApiFailure | null {
  if (result === null || !result.isError || result.text === null) return null;
  const message = result.text;
  const status = Number(/\b(429|5\d\d)\b/.exec(message)?.[1] ?? NaN);
  if (status === 429 || /rate.?limit/i.test(message)) return { kind: 'rate_limited', status: Number.isNaN(status) ? null : status, resetAt: null };
  if (status === 529 || /overloaded|high demand/i.test(message)) return { kind: 'overloaded', status: Number.isNaN(status) ? null : status, resetAt: null };
  if (!Number.isNaN(status)) return { kind: 'server_error', status, resetAt: null };
  return null;
}

/**
 * A Codex turn's own tokens: its `turn.completed` usage is the thread's running total, so a
 * turn that resumed the thread reported by `previous` (the thread's last turn, same thread id)
 * counts only what it added. When the figures went down (not a running total) they are taken as
 * they are.
 */
export function codexTurnUsage(usage: TokenUsage | null, previous: TokenUsage | null): TokenUsage | null {
  if (usage === null || previous === null) return usage;
  const delta = {
    inputTokens: usage.inputTokens - previous.inputTokens,
    outputTokens: usage.outputTokens - previous.outputTokens,
    cacheCreationInputTokens: usage.cacheCreationInputTokens - previous.cacheCreationInputTokens,
    cacheReadInputTokens: usage.cacheReadInputTokens - previous.cacheReadInputTokens,
  };
  return Object.values(delta).every((value) => value >= 0) ? delta : usage;
}
