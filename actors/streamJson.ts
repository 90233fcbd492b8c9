/**
 * Parser for Claude Code's `--output-format stream-json` (with `-p --verbose`): newline-delimited
 * JSON on stdout, one message per line, ending in a `result` message.
 *
 * Sources (read through the stored copies named):
 * - Anthropic, "Agent SDK reference - TypeScript", Message Types (`SDKMessage`, `SDKSystemMessage`,
 *   `SDKAssistantMessage`, `SDKUserMessage`, `SDKResultMessage`), https://platform.claude.com/docs/en/agent-sdk/typescript
 *   (llms-full.txt copy: github.com/patrickcarmichael/claude-docs, docs/ai-platforms/anthropic/formatted/229-message-types.md).
 * - Anthropic, "Headless mode", https://docs.anthropic.com/en/docs/claude-code/sdk/sdk-headless (`--output-format stream-json`).
 * - Anthropic's Python SDK parser, github.com/anthropics/claude-agent-sdk-python, src/claude_agent_sdk/_internal/message_parser.py:
 *   required fields, block shapes, and skipping unrecognized message types "so newer CLI versions don't crash older SDK versions".
 * - Transcripts and behaviour in github.com/anthropics/claude-code issues: #38673 (a full `-p --verbose` stream-json run with
 *   an undocumented `rate_limit_event`), #79500 (`subtype: "success"` with `is_error: true`, exit 0), #16768 (a second
 *   `result`, `error_during_execution` with `errors` and no `result` text), #83239 (`total_cost_usd` is cumulative per CLI
 *   process), #24612 (the set of message types is not documented).
 *
 * Fields relied on (required unless "optional"; optional ones are validated when present, all others are left in `raw`):
 * - every line: a JSON object with a string `type`; `subtype` is read when it is a string.
 * - `system`: `subtype`; `init` also `session_id`. Not read: `model`, `cwd`, `tools`, `mcp_servers`, `permissionMode`.
 * - `assistant` / `user`: `message.content`, a string or an array of blocks with a string `type`: `text` has `text`;
 *   `tool_use` has `id`, `name`, `input`; `tool_result` has `tool_use_id`, `content`, optional `is_error` (boolean).
 *   Other block types (`thinking`, `server_tool_use`, …) are not validated.
 * - `result`: `subtype` (`success`, `error_max_turns`, `error_during_execution`, …), `is_error`; optional `session_id`,
 *   `duration_ms`, `duration_api_ms`, `num_turns`, `result`, `total_cost_usd`, `errors` (strings), `usage` (`input_tokens`,
 *   `output_tokens`, optional `cache_creation_input_tokens`, `cache_read_input_tokens`), `api_error_status` (number),
 *   `permission_denials` (`tool_name`, `tool_use_id`, `tool_input`), `modelUsage` and `model_usage_since_last_result`
 *   (per model: `costUSD`, `inputTokens`, `outputTokens`).
 * - `system`/`permission_denied` (`tool_name`, `tool_use_id`), `system`/`api_retry` (`attempt`, `error_status`,
 *   `retry_delay_ms`) and `rate_limit_event` (`rate_limit_info.status`, `resetsAt` in epoch seconds) are read when
 *   their fields have these types, and recorded as they are otherwise.
 * - any other `type` (`stream_event`, …) is an event recorded as such.
 *
 * What the real CLI does, as run by this project's tests against a local mock of the Messages API
 * (test/claudeCodeCli.test.ts, Claude Code 1.0.128, 2.1.100 and 2.1.332; 2.0.76 by hand): `usage` is the process's
 * own; `total_cost_usd` and `modelUsage` are per process up to 2.1.100 (resumed sessions included) but a running total
 * of the whole session in 2.1.332, whose resumed turns report earlier turns' spend again, with the turn's own figures
 * in `model_usage_since_last_result`. A denied tool leaves `subtype: success`, `is_error: false` with the denial in `permission_denials`. An API
 * error after the CLI's own retries is `is_error: true` with `api_error_status` (429, 529, 5xx), exit code 1.
 */
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';
import { checkCodexLine } from './codexJson.js';

/** One line that parsed as a stream-json message. */
export interface StreamJsonEvent {
  /** 1-based line number over the whole stream, blank lines included. */
  readonly line: number;
  /** The message's `type`, known or not (`system`, `assistant`, `user`, `result`, …). */
  readonly type: string;
  /** The message's `subtype` when it is a string (`init`, `success`, …), else `null`. */
  readonly subtype: string | null;
  /** The whole parsed JSON object, unknown fields included. */
  readonly raw: unknown;
}

/** Token counts of a `result` message's `usage`; a missing cache count reads as 0. */
export interface TokenUsage {
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly cacheCreationInputTokens: number;
  readonly cacheReadInputTokens: number;
}

/** The `result` message of a run; optional fields the CLI left out are `null`. */
export interface StreamJsonResult {
  readonly subtype: string;
  readonly isError: boolean;
  readonly sessionId: string | null;
  /** Wall time of the run, milliseconds. */
  readonly durationMs: number | null;
  /** Time spent in API calls, milliseconds. */
  readonly durationApiMs: number | null;
  readonly numTurns: number | null;
  /**
   * `total_cost_usd` as reported, in USD: the CLI process's spend in older versions, the whole
   * session's (earlier turns included) in newer ones. {@link turnCost} tells which.
   */
  readonly totalCostUsd: number | null;
  readonly usage: TokenUsage | null;
  /** The `result` text; error results often have none and carry `errors` instead. */
  readonly text: string | null;
  readonly errors: readonly string[];
  /** HTTP status of the API error that ended the turn (429, 529, 5xx, …), else `null`. */
  readonly apiErrorStatus: number | null;
  /** Tools the CLI refused to run for want of permission (`permission_denials`). */
  readonly permissionDenials: readonly PermissionDenial[];
  /** `modelUsage` summed over models: the process's figures, or the session's (see `totalCostUsd`). */
  readonly modelUsage: UsageTotals | null;
  /** `model_usage_since_last_result` summed over models: this turn's own figures, when the CLI reports them. */
  readonly usageSinceLastResult: UsageTotals | null;
}

/** A tool call the CLI denied. */
export interface PermissionDenial {
  readonly toolName: string;
  readonly toolUseId: string;
  /** The tool's `file_path` or `command` input when it has one, for a readable reason. */
  readonly target: string | null;
}

/** Per-model usage summed over models: USD and tokens. */
export interface UsageTotals {
  readonly costUsd: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
}

/** The latest `rate_limit_event`'s info. */
export interface RateLimitInfo {
  /** `allowed`, `allowed_warning`, `rejected`, … */
  readonly status: string;
  /** When the limit resets, ms since epoch (`resetsAt` is in seconds), or `null`. */
  readonly resetsAt: number | null;
  readonly rateLimitType: string | null;
}

/** A line that is not a JSON object with a string `type`, fails the schema of its known type, or is too long. */
export interface StreamJsonMalformedLine {
  readonly line: number;
  /** The line's start, at most 200 characters. */
  readonly text: string;
  readonly error: string;
}

/** What a stream said so far. */
export interface StreamJsonSummary {
  /** Lines parsed as events (blank and malformed lines excluded). */
  readonly events: number;
  /** From `system`/`init`, else from the `result`. */
  readonly sessionId: string | null;
  /** From the first `system`/`init` message. */
  readonly initSessionId: string | null;
  /** The last `result` message: the CLI's final word when it emits more than one. */
  readonly result: StreamJsonResult | null;
  /** How many `result` messages were seen. */
  readonly resultEvents: number;
  /** `tool_use` blocks in `assistant` messages, sub-agents' included. */
  readonly toolUses: number;
  /** `tool_use` blocks with no `tool_result` yet: the agent waits on a tool (a long Bash command prints nothing). */
  readonly openToolUses: number;
  /** Denied tool calls, from `system`/`permission_denied` events and the `result`, one per tool use id. */
  readonly permissionDenials: readonly PermissionDenial[];
  /** `system`/`api_retry` events: the CLI retrying a failed API request by itself. */
  readonly apiRetries: number;
  /** HTTP status of the last `api_retry`, or of an assistant message flagged as an API error; `null` when none. */
  readonly lastApiErrorStatus: number | null;
  /** The last `rate_limit_event`, if any. */
  readonly rateLimit: RateLimitInfo | null;
  /** The first {@link MAX_MALFORMED_RECORDS} malformed lines, in order. */
  readonly malformed: readonly StreamJsonMalformedLine[];
  /** All malformed lines, recorded or not. */
  readonly malformedLines: number;
}

/** Options of {@link createStreamJsonParser}. */
export interface StreamJsonParserOptions {
  /**
   * Whose event stream: `claude` (Claude Code's `--output-format stream-json`) or `codex`
   * (Codex CLI's `codex exec --json`, see `actors/codexJson.ts`). @default 'claude'
   */
  readonly dialect?: 'claude' | 'codex';
  /** Longest line kept, in UTF-8 bytes without its `\n`; a longer one is malformed. @default {@link MAX_LINE_BYTES} */
  readonly maxLineBytes?: number;
}

/** An incremental stream-json parser; one per stream. */
export interface StreamJsonParser {
  /**
   * Feeds the next chunk and returns the events of the lines it completes. A line or a UTF-8
   * character may be split across chunks; pass either strings or Buffers within one character.
   * @throws Error after {@link StreamJsonParser.end}.
   */
  push(chunk: string | Buffer): StreamJsonEvent[];
  /** Ends the stream: parses an unterminated last line and returns its event. Idempotent. */
  end(): StreamJsonEvent[];
  /** A snapshot of the stream so far; callable at any time. */
  summary(): StreamJsonSummary;
}

/** Default longest line: 8 MiB, in bytes. */
export const MAX_LINE_BYTES = 8 * 1024 * 1024;
/** Malformed lines kept in a summary; later ones are only counted. */
export const MAX_MALFORMED_RECORDS = 100;
const MAX_TEXT_CHARS = 200;

const Usage = z
  .object({
    input_tokens: z.number(),
    output_tokens: z.number(),
    cache_creation_input_tokens: z.number().nullish(),
    cache_read_input_tokens: z.number().nullish(),
  })
  .loose()
  .transform((usage): TokenUsage => ({
    inputTokens: usage.input_tokens,
    outputTokens: usage.output_tokens,
    cacheCreationInputTokens: usage.cache_creation_input_tokens ?? 0,
    cacheReadInputTokens: usage.cache_read_input_tokens ?? 0,
  }));

const BLOCK_SCHEMAS = new Map<string, z.ZodType>([
  ['text', z.object({ text: z.string() }).loose()],
  ['tool_use', z.object({ id: z.string(), name: z.string(), input: z.unknown() }).loose()],
  ['tool_result', z.object({ tool_use_id: z.string(), content: z.unknown(), is_error: z.boolean().nullish() }).loose()],
]);

const ContentBlock = z
  .object({ type: z.string() })
  .loose()
  .superRefine((block, ctx) => {
    const parsed = BLOCK_SCHEMAS.get(block.type)?.safeParse(block);
    for (const issue of parsed?.error?.issues ?? []) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
  });

const Content = z.union([z.string(), z.array(ContentBlock)], { error: 'expected a string or an array of content blocks' });
const MessageEvent = z.object({ message: z.object({ content: Content }).loose() }).loose();

const SystemEvent = z.object({ subtype: z.string() }).loose();
const InitEvent = z.object({ subtype: z.literal('init'), session_id: z.string() }).loose();

const ModelUsage = z
  .record(z.string(), z.object({ costUSD: z.number().nullish(), inputTokens: z.number().nullish(), outputTokens: z.number().nullish() }).loose())
  .transform((models): UsageTotals => {
    const entries = Object.entries(models);
    return {
      costUsd: roundUsd(entries.reduce((total, [, usage]) => total + (usage.costUSD ?? 0), 0)),
      inputTokens: entries.reduce((total, [, usage]) => total + (usage.inputTokens ?? 0), 0),
      outputTokens: entries.reduce((total, [, usage]) => total + (usage.outputTokens ?? 0), 0),
    };
  });

const Denial = z.object({ tool_name: z.string(), tool_use_id: z.string(), tool_input: z.unknown() }).loose();

const PermissionDeniedEvent = z.object({ tool_name: z.string(), tool_use_id: z.string() }).loose();
const ApiRetryEvent = z.object({ error_status: z.number().nullish() }).loose();
const RateLimitEvent = z
  .object({ rate_limit_info: z.object({ status: z.string(), resetsAt: z.number().nullish(), rateLimitType: z.string().nullish() }).loose() })
  .loose();
const ApiErrorAssistant = z.object({ api_error_status: z.number() }).loose();

const ResultEvent = z
  .object({
    subtype: z.string(),
    is_error: z.boolean(),
    session_id: z.string().nullish(),
    duration_ms: z.number().nullish(),
    duration_api_ms: z.number().nullish(),
    num_turns: z.number().nullish(),
    result: z.string().nullish(),
    total_cost_usd: z.number().nullish(),
    usage: Usage.nullish(),
    errors: z.array(z.string()).nullish(),
    api_error_status: z.number().nullish(),
    permission_denials: z.array(Denial).nullish(),
    modelUsage: ModelUsage.nullish(),
    model_usage_since_last_result: ModelUsage.nullish(),
  })
  .loose();

/**
 * Creates a parser for one stdout stream of `claude -p --output-format stream-json --verbose`.
 * Memory stays bounded: a line longer than `maxLineBytes` is recorded as malformed (its first
 * 200 characters) and dropped as it arrives, and at most {@link MAX_MALFORMED_RECORDS} malformed
 * lines are kept.
 * @throws RangeError when `maxLineBytes` is not a positive integer.
 * @example
 * const parser = createStreamJsonParser();
 * child.stdout.on('data', (chunk: Buffer) => parser.push(chunk));
 * child.on('close', (code) => { parser.end(); const verdict = turnVerdict(parser.summary(), code); }); // actors/turnVerdict.ts
 */
export function createStreamJsonParser(options: StreamJsonParserOptions = {}): StreamJsonParser {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  const dialect = options.dialect ?? 'claude';
  if (!Number.isInteger(maxLineBytes) || maxLineBytes <= 0) throw new RangeError(`maxLineBytes must be a positive integer, got ${maxLineBytes}`);
  const decoder = new StringDecoder('utf8');
  let ended = false;
  let lineNo = 0;
  let pending = '';
  let pendingBytes = 0;
  let overflowHead: string | null = null;
  let events = 0;
  let initSessionId: string | null = null;
  let result: StreamJsonResult | null = null;
  let resultEvents = 0;
  let toolUses = 0;
  const openTools = new Set<string>();
  const denials = new Map<string, PermissionDenial>();
  let apiRetries = 0;
  let lastApiErrorStatus: number | null = null;
  let rateLimit: RateLimitInfo | null = null;
  let malformedLines = 0;
  const malformed: StreamJsonMalformedLine[] = [];

  const recordMalformed = (line: number, text: string, error: string): void => {
    malformedLines += 1;
    if (malformed.length < MAX_MALFORMED_RECORDS) malformed.push({ line, text: truncate(text, MAX_TEXT_CHARS), error });
  };

  const append = (piece: string): void => {
    if (overflowHead !== null || piece === '') return;
    pendingBytes += Buffer.byteLength(piece, 'utf8');
    if (pendingBytes > maxLineBytes) {
      overflowHead = truncate(pending + piece.slice(0, MAX_TEXT_CHARS), MAX_TEXT_CHARS);
      pending = '';
    } else {
      pending += piece;
    }
  };

  const completeLine = (out: StreamJsonEvent[]): void => {
    lineNo += 1;
    const text = pending.endsWith('\r') ? pending.slice(0, -1) : pending;
    const head = overflowHead;
    pending = '';
    pendingBytes = 0;
    overflowHead = null;
    if (head !== null) {
      recordMalformed(lineNo, head, `line longer than ${maxLineBytes} bytes`);
      return;
    }
    if (text.trim() === '') return;
    const parsed = parseLine(text, dialect);
    if ('error' in parsed) {
      recordMalformed(lineNo, text, parsed.error);
      return;
    }
    events += 1;
    const { facts } = parsed;
    switch (facts.kind) {
      case 'init':
        initSessionId ??= facts.sessionId;
        break;
      case 'assistant':
        toolUses += facts.toolUseIds.length;
        for (const id of facts.toolUseIds) openTools.add(id);
        if (facts.apiErrorStatus !== null) lastApiErrorStatus = facts.apiErrorStatus;
        break;
      case 'user':
        for (const id of facts.toolResultIds) openTools.delete(id);
        break;
      case 'denied':
        if (!denials.has(facts.denial.toolUseId)) denials.set(facts.denial.toolUseId, facts.denial);
        break;
      case 'api_retry':
        apiRetries += 1;
        if (facts.status !== null) lastApiErrorStatus = facts.status;
        break;
      case 'rate_limit':
        rateLimit = facts.info;
        break;
      case 'result':
        resultEvents += 1;
        result = facts.result;
        // The turn is over: whatever tool use is left open will get no result.
        openTools.clear();
        // The result's denials carry the tool's input: they replace the bare `permission_denied` events.
        for (const denial of facts.result.permissionDenials) denials.set(denial.toolUseId, denial);
        break;
      case 'other':
        break;
    }
    out.push({ line: lineNo, type: parsed.type, subtype: parsed.subtype, raw: parsed.raw });
  };

  const feed = (text: string): StreamJsonEvent[] => {
    const out: StreamJsonEvent[] = [];
    let start = 0;
    for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
      append(text.slice(start, nl));
      completeLine(out);
      start = nl + 1;
    }
    append(text.slice(start));
    return out;
  };

  return {
    push(chunk) {
      if (ended) throw new Error('stream-json parser: push() after end()');
      return feed(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    },
    end() {
      if (ended) return [];
      ended = true;
      const out = feed(decoder.end());
      if (pending !== '' || overflowHead !== null) completeLine(out);
      return out;
    },
    summary() {
      const sessionId = initSessionId ?? result?.sessionId ?? null;
      return {
        events,
        sessionId,
        initSessionId,
        result,
        resultEvents,
        toolUses,
        openToolUses: openTools.size,
        permissionDenials: [...denials.values()],
        apiRetries,
        lastApiErrorStatus,
        rateLimit,
        malformed: [...malformed],
        malformedLines,
      };
    },
  };
}

/** Parses a whole captured stdout (a turn log) at once. */
export function summarizeStreamJson(output: string | Buffer, options?: StreamJsonParserOptions): StreamJsonSummary {
  const parser = createStreamJsonParser(options);
  parser.push(output);
  parser.end();
  return parser.summary();
}

/** Rounds an amount of USD to 1e-10 USD, so float noise (0.036351999999999995) does not show or pile up. */
export function roundUsd(usd: number): number {
  return Math.round(usd * 1e10) / 1e10;
}

/** What the summary takes from one checked line. @internal shared with `actors/codexJson.ts` */
export type LineFacts =
  | { readonly kind: 'init'; readonly sessionId: string }
  | { readonly kind: 'assistant'; readonly toolUseIds: readonly string[]; readonly apiErrorStatus: number | null }
  | { readonly kind: 'user'; readonly toolResultIds: readonly string[] }
  | { readonly kind: 'denied'; readonly denial: PermissionDenial }
  | { readonly kind: 'api_retry'; readonly status: number | null }
  | { readonly kind: 'rate_limit'; readonly info: RateLimitInfo }
  | { readonly kind: 'result'; readonly result: StreamJsonResult }
  | { readonly kind: 'other' };

type ParsedLine = Omit<StreamJsonEvent, 'line'> & { readonly facts: LineFacts };

function parseLine(text: string, dialect: 'claude' | 'codex'): ParsedLine | { readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
  const { type, subtype } = value as { type?: unknown; subtype?: unknown };
  if (typeof type !== 'string') return { error: 'no string "type"' };
  const checked = dialect === 'codex' ? checkCodexLine(type, value) : check(type, subtype, value);
  if ('error' in checked) return checked;
  return { type, subtype: typeof subtype === 'string' ? subtype : null, raw: value, facts: checked };
}

/** Validates a line of a known `type` against its schema; any other `type` passes as it is. */
function check(type: string, subtype: unknown, value: unknown): LineFacts | { readonly error: string } {
  switch (type) {
    case 'system':
      if (subtype === 'permission_denied') {
        const denied = PermissionDeniedEvent.safeParse(value);
        if (denied.success) return { kind: 'denied', denial: { toolName: denied.data.tool_name, toolUseId: denied.data.tool_use_id, target: targetOf(denied.data['tool_input']) } };
      }
      if (subtype === 'api_retry') {
        const retry = ApiRetryEvent.safeParse(value);
        if (retry.success) return { kind: 'api_retry', status: retry.data.error_status ?? null };
      }
      if (subtype !== 'init') return checked(type, SystemEvent.safeParse(value), () => ({ kind: 'other' }));
      return checked(type, InitEvent.safeParse(value), (init) => ({ kind: 'init', sessionId: init.session_id }));
    case 'rate_limit_event': {
      const event = RateLimitEvent.safeParse(value);
      if (!event.success) return { kind: 'other' };
      const info = event.data.rate_limit_info;
      return { kind: 'rate_limit', info: { status: info.status, resetsAt: info.resetsAt == null ? null : info.resetsAt * 1000, rateLimitType: info.rateLimitType ?? null } };
    }
    case 'assistant':
      return checked(type, MessageEvent.safeParse(value), ({ message: { content } }) => ({
        kind: 'assistant',
        toolUseIds: blockIds(content, 'tool_use', 'id'),
        apiErrorStatus: ApiErrorAssistant.safeParse(value).data?.api_error_status ?? null,
      }));
    case 'user':
      return checked(type, MessageEvent.safeParse(value), ({ message: { content } }) => ({ kind: 'user', toolResultIds: blockIds(content, 'tool_result', 'tool_use_id') }));
    case 'result':
      return checked(type, ResultEvent.safeParse(value), (event) => ({ kind: 'result', result: toResult(event) }));
    default:
      return { kind: 'other' };
  }
}

/** A line's facts when `parsed` succeeded, else its first issue as `type.path: message`. @internal */
export function checked<T>(type: string, parsed: z.ZodSafeParseResult<T>, facts: (data: T) => LineFacts): LineFacts | { readonly error: string } {
  if (parsed.success) return facts(parsed.data);
  const issue = parsed.error.issues[0];
  const path = issue?.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('') ?? '';
  return { error: `${type}${path}: ${issue?.message ?? 'invalid'}` };
}

/** The string `key` of every block of `type` in a message's content. */
function blockIds(content: string | readonly { readonly type: string }[], type: string, key: string): string[] {
  if (typeof content === 'string') return [];
  return content.flatMap((block) => {
    const id = (block as Record<string, unknown>)[key];
    return block.type === type && typeof id === 'string' ? [id] : [];
  });
}

/** A denied tool's `file_path`, `path` or `command` input, at most 200 characters. */
function targetOf(input: unknown): string | null {
  if (typeof input !== 'object' || input === null) return null;
  const fields = input as Record<string, unknown>;
  const target = [fields['file_path'], fields['path'], fields['notebook_path'], fields['command'], fields['url']].find((v) => typeof v === 'string');
  return typeof target === 'string' ? truncate(target, MAX_TEXT_CHARS) : null;
}

function toResult(event: z.infer<typeof ResultEvent>): StreamJsonResult {
  return {
    subtype: event.subtype,
    isError: event.is_error,
    sessionId: event.session_id ?? null,
    durationMs: event.duration_ms ?? null,
    durationApiMs: event.duration_api_ms ?? null,
    numTurns: event.num_turns ?? null,
    totalCostUsd: event.total_cost_usd ?? null,
    usage: event.usage ?? null,
    text: event.result ?? null,
    errors: event.errors ?? [],
    apiErrorStatus: event.api_error_status ?? null,
    permissionDenials: (event.permission_denials ?? []).map((denial) => ({ toolName: denial.tool_name, toolUseId: denial.tool_use_id, target: targetOf(denial.tool_input) })),
    modelUsage: event.modelUsage ?? null,
    usageSinceLastResult: event.model_usage_since_last_result ?? null,
  };
}

/**
 * Reads a recorded `result` event (the `raw` of a {@link StreamJsonEvent}, or its stored JSON),
 * or returns `null` when it is not a valid one.
 */
export function parseResultEvent(raw: unknown): StreamJsonResult | null {
  const value = typeof raw === 'string' ? safeJson(raw) : raw;
  const parsed = ResultEvent.safeParse(value);
  return parsed.success && (value as { type?: unknown }).type === 'result' ? toResult(parsed.data) : null;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: not a result event, which is what the caller asked.
    return null;
  }
}

/** `exited with code N`, or how a process that has none ended. @internal */
export function describeExit(exitCode: number | null): string {
  return exitCode === null ? 'exited without an exit code (killed by a signal)' : `exited with code ${exitCode}`;
}

/** Cuts `text` to `max` UTF-16 units without splitting a surrogate pair. @internal */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
