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
 *   `output_tokens`, optional `cache_creation_input_tokens`, `cache_read_input_tokens`).
 * - any other `type` (`stream_event`, `rate_limit_event`, …) is an event recorded as such.
 */
import { StringDecoder } from 'node:string_decoder';
import { z } from 'zod';

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
  /** Cost in USD, cumulative over the CLI process (one `-p` process is one turn). */
  readonly totalCostUsd: number | null;
  readonly usage: TokenUsage | null;
  /** The `result` text; error results often have none and carry `errors` instead. */
  readonly text: string | null;
  readonly errors: readonly string[];
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
  /** The first {@link MAX_MALFORMED_RECORDS} malformed lines, in order. */
  readonly malformed: readonly StreamJsonMalformedLine[];
  /** All malformed lines, recorded or not. */
  readonly malformedLines: number;
}

/** Options of {@link createStreamJsonParser}. */
export interface StreamJsonParserOptions {
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
const MAX_REASON_CHARS = 500;

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
 * child.on('close', (code) => { parser.end(); const verdict = turnVerdict(parser.summary(), code); });
 */
export function createStreamJsonParser(options: StreamJsonParserOptions = {}): StreamJsonParser {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
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
    const parsed = parseLine(text);
    if ('error' in parsed) {
      recordMalformed(lineNo, text, parsed.error);
      return;
    }
    events += 1;
    const { facts } = parsed;
    if (facts.kind === 'init') initSessionId ??= facts.sessionId;
    if (facts.kind === 'assistant') toolUses += facts.toolUses;
    if (facts.kind === 'result') {
      resultEvents += 1;
      result = facts.result;
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
      return { events, sessionId, initSessionId, result, resultEvents, toolUses, malformed: [...malformed], malformedLines };
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

/**
 * Whether a turn succeeded, from its stream and its exit code (`null`: killed by a signal).
 * Fails, first match wins: a `result` with `is_error` or an `error*` subtype, even on exit 0
 * (`result <subtype> (is_error): <text or errors>`); a non-zero or missing exit code
 * (`exited with code N`, plus the first malformed line if any); a malformed line
 * (`malformed stream-json at line N: …`); no `result` (`exited 0 without a result event`).
 */
export function turnVerdict(summary: StreamJsonSummary, exitCode: number | null): { ok: boolean; reason: string } {
  const { result } = summary;
  const firstMalformed = summary.malformed[0];
  const malformedReason = firstMalformed === undefined ? null : `malformed stream-json at line ${firstMalformed.line}: ${firstMalformed.error}`;
  if (result !== null && (result.isError || result.subtype.startsWith('error'))) {
    const detail = (result.text?.trim() || result.errors.join('; ').trim() || 'no result text').replace(/\s+/g, ' ');
    const exit = exitCode === 0 ? '' : `, ${describeExit(exitCode)}`;
    return { ok: false, reason: truncate(`result ${result.subtype}${result.isError ? ' (is_error)' : ''}${exit}: ${detail}`, MAX_REASON_CHARS) };
  }
  if (exitCode !== 0) return { ok: false, reason: [describeExit(exitCode), malformedReason].filter((part) => part !== null).join('; ') };
  if (malformedReason !== null) return { ok: false, reason: malformedReason };
  if (result === null) return { ok: false, reason: 'exited 0 without a result event' };
  return { ok: true, reason: `result ${result.subtype}${result.numTurns === null ? '' : ` after ${result.numTurns} turns`}` };
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
  return Math.round((a + b) * 1e10) / 1e10;
}

/** What the summary takes from one checked line. */
type LineFacts =
  | { readonly kind: 'init'; readonly sessionId: string }
  | { readonly kind: 'assistant'; readonly toolUses: number }
  | { readonly kind: 'result'; readonly result: StreamJsonResult }
  | { readonly kind: 'other' };

type ParsedLine = Omit<StreamJsonEvent, 'line'> & { readonly facts: LineFacts };

function parseLine(text: string): ParsedLine | { readonly error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `invalid JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'not a JSON object' };
  const { type, subtype } = value as { type?: unknown; subtype?: unknown };
  if (typeof type !== 'string') return { error: 'no string "type"' };
  const checked = check(type, subtype, value);
  if ('error' in checked) return checked;
  return { type, subtype: typeof subtype === 'string' ? subtype : null, raw: value, facts: checked };
}

/** Validates a line of a known `type` against its schema; any other `type` passes as it is. */
function check(type: string, subtype: unknown, value: unknown): LineFacts | { readonly error: string } {
  switch (type) {
    case 'system':
      if (subtype !== 'init') return checked(type, SystemEvent.safeParse(value), () => ({ kind: 'other' }));
      return checked(type, InitEvent.safeParse(value), (init) => ({ kind: 'init', sessionId: init.session_id }));
    case 'assistant':
      return checked(type, MessageEvent.safeParse(value), ({ message: { content } }) => ({
        kind: 'assistant',
        toolUses: typeof content === 'string' ? 0 : content.filter((block) => block.type === 'tool_use').length,
      }));
    case 'user':
      return checked(type, MessageEvent.safeParse(value), () => ({ kind: 'other' }));
    case 'result':
      return checked(type, ResultEvent.safeParse(value), (event) => ({ kind: 'result', result: toResult(event) }));
    default:
      return { kind: 'other' };
  }
}

function checked<T>(type: string, parsed: z.ZodSafeParseResult<T>, facts: (data: T) => LineFacts): LineFacts | { readonly error: string } {
  if (parsed.success) return facts(parsed.data);
  const issue = parsed.error.issues[0];
  const path = issue?.path.map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('') ?? '';
  return { error: `${type}${path}: ${issue?.message ?? 'invalid'}` };
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
  };
}

function describeExit(exitCode: number | null): string {
  return exitCode === null ? 'exited without an exit code (killed by a signal)' : `exited with code ${exitCode}`;
}

/** Cuts `text` to `max` UTF-16 units without splitting a surrogate pair. */
function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
