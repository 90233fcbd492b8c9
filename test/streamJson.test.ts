import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  createStreamJsonParser,
  MAX_LINE_BYTES,
  MAX_MALFORMED_RECORDS,
  summarizeStreamJson,
  type StreamJsonEvent,
  type StreamJsonSummary,
  type TokenUsage,
} from '../actors/streamJson.js';
import { sumCost, sumUsage, transientApiFailure, turnCost, turnVerdict } from '../actors/turnVerdict.js';

/** Transcripts written by hand after the documented message shapes (see actors/streamJson.ts). */
function transcript(name: string): Buffer {
  return readFileSync(new URL(`./fixtures/stream-json/${name}.jsonl`, import.meta.url));
}

/** Pushes `chunks` in order into a fresh parser; every event returned, and the final summary. */
function parseChunks(chunks: readonly (string | Buffer)[]): { events: StreamJsonEvent[]; summary: StreamJsonSummary } {
  const parser = createStreamJsonParser();
  const events = chunks.flatMap((chunk) => parser.push(chunk));
  events.push(...parser.end());
  return { events, summary: parser.summary() };
}

const SESSION = '5c3e9a7e-1f0b-4c7e-9d2a-8b6f0e4a1c23';

describe('createStreamJsonParser', () => {
  it('summarizes a successful run: init session, tool uses, and the result with cost and usage', () => {
    const { events, summary } = parseChunks([transcript('success')]);
    expect(events.map((event) => [event.line, event.type, event.subtype])).toEqual([
      [1, 'system', 'init'],
      [2, 'assistant', null],
      [3, 'user', null],
      [4, 'assistant', null],
      [5, 'user', null],
      [6, 'assistant', null],
      [7, 'result', 'success'],
    ]);
    expect(events[0]?.raw).toMatchObject({ session_id: SESSION, model: 'claude-sonnet-4-5-20250929', cwd: '/work/repo' });
    expect(summary).toEqual({
      events: 7,
      sessionId: SESSION,
      initSessionId: SESSION,
      result: {
        subtype: 'success',
        isError: false,
        sessionId: SESSION,
        durationMs: 18342,
        durationApiMs: 15120,
        numTurns: 3,
        totalCostUsd: 0.0412735,
        usage: { inputTokens: 18, outputTokens: 168, cacheCreationInputTokens: 2903, cacheReadInputTokens: 49807 },
        text: 'Fixed the sign in add() 🎉 — all tests pass.',
        errors: [],
        apiErrorStatus: null,
        permissionDenials: [],
        modelUsage: { costUsd: 0.0412735, inputTokens: 18, outputTokens: 168 },
        usageSinceLastResult: null,
      },
      resultEvents: 1,
      toolUses: 2,
      openToolUses: 0,
      permissionDenials: [],
      apiRetries: 0,
      lastApiErrorStatus: null,
      rateLimit: null,
      malformed: [],
      malformedLines: 0,
    });
    expect(turnVerdict(summary, 0)).toEqual({ ok: true, reason: 'result success after 3 turns' });
  });

  it('fails the turn on an is_error result even when the process exits 0', () => {
    const summary = summarizeStreamJson(transcript('error-result'));
    expect(summary.result).toMatchObject({ subtype: 'error_during_execution', isError: true, text: null, numTurns: 2 });
    expect(summary.malformed).toEqual([]);
    expect(turnVerdict(summary, 0)).toEqual({ ok: false, reason: 'result error_during_execution (is_error): Tool permission denied: Bash' });
  });

  it('fails the turn on exit 0 without a result event', () => {
    const summary = summarizeStreamJson(transcript('no-result'));
    expect(summary).toMatchObject({ events: 2, sessionId: '77aa88bb-99cc-4ddd-8eee-ff0011223344', result: null, toolUses: 1 });
    expect(turnVerdict(summary, 0)).toEqual({ ok: false, reason: 'exited 0 without a result event' });
  });

  it('records a malformed line in the middle, keeps parsing after it, and fails the turn naming the line', () => {
    const summary = summarizeStreamJson(transcript('malformed-line'));
    expect(summary.events).toBe(5);
    expect(summary.result).toMatchObject({ subtype: 'success', text: 'The tree is clean.' });
    expect(summary.malformed).toEqual([{ line: 4, text: '[mcp] server "jira" exited with code 1', error: expect.stringMatching(/^invalid JSON: /) }]);
    expect(turnVerdict(summary, 0).reason).toMatch(/^malformed stream-json at line 4: invalid JSON: /);
  });

  it('records unknown event types as such and tolerates unknown fields and block types', () => {
    const { events, summary } = parseChunks([transcript('unknown-types')]);
    expect(events.map((event) => `${event.type}/${event.subtype ?? '-'}`)).toEqual([
      'system/hook_response',
      'system/init',
      'stream_event/-',
      'assistant/-',
      'rate_limit_event/-',
      'system/compact_boundary',
      'tool_progress/-',
      'user/-',
      'result/success',
    ]);
    expect(summary).toMatchObject({ events: 9, initSessionId: '0a0b0c0d-1e1f-4a2b-8c3d-4e5f6a7b8c9d', toolUses: 0, malformed: [] });
    expect(summary.result?.usage).toEqual({ inputTokens: 3, outputTokens: 6, cacheCreationInputTokens: 0, cacheReadInputTokens: 0 });
    expect(turnVerdict(summary, 0).ok).toBe(true);
  });

  it.each([
    ['[1,2]', 'not a JSON object'],
    ['"result"', 'not a JSON object'],
    ['{"subtype":"init"}', 'no string "type"'],
    ['{"type":7}', 'no string "type"'],
    ['{"type":"result","subtype":"success","is_error":"no"}', 'result.is_error: Invalid input: expected boolean, received string'],
    ['{"type":"result","subtype":"success","is_error":false,"usage":{"input_tokens":"3"}}', 'result.usage.input_tokens: Invalid input: expected number, received string'],
    ['{"type":"system","subtype":"init"}', 'system.session_id: Invalid input: expected string, received undefined'],
    ['{"type":"system"}', 'system.subtype: Invalid input: expected string, received undefined'],
    ['{"type":"assistant","message":{"content":[{"type":"tool_use","name":"Bash","input":{}}]}}', 'assistant.message.content[0].id: Invalid input: expected string, received undefined'],
    ['{"type":"user","message":{"content":[{"type":"tool_result","content":"x"}]}}', 'user.message.content[0].tool_use_id: Invalid input: expected string, received undefined'],
    ['{"type":"user","message":{"content":42}}', 'user.message.content: expected a string or an array of content blocks'],
  ])('records %s as malformed: %s', (line, error) => {
    const summary = summarizeStreamJson(`\n${line}\n`);
    expect(summary.events).toBe(0);
    expect(summary.malformed).toEqual([{ line: 2, text: line, error }]);
  });

  it('skips blank lines but counts them, strips CRLF, and parses an unterminated last line at end()', () => {
    const parser = createStreamJsonParser();
    expect(parser.push('\n  \r\n{"type":"ping"}\r\n\n{"type":"result","subtype":"success","is_error":false}')).toEqual([
      { line: 3, type: 'ping', subtype: null, raw: { type: 'ping' } },
    ]);
    expect(parser.end()).toMatchObject([{ line: 5, type: 'result', subtype: 'success' }]);
    expect(parser.end()).toEqual([]);
    expect(() => parser.push('{}\n')).toThrow(/after end/);
  });

  it('keeps the last of several result events and counts them', () => {
    const success = '{"type":"result","subtype":"success","is_error":false,"num_turns":2,"result":"done"}';
    const late = '{"type":"result","subtype":"error_during_execution","is_error":true,"num_turns":0,"errors":["only prompt commands are supported in streaming mode"]}';
    const summary = summarizeStreamJson(`${success}\n${late}\n`);
    expect(summary).toMatchObject({ resultEvents: 2, result: { subtype: 'error_during_execution', numTurns: 0 } });
    expect(turnVerdict(summary, 0).reason).toBe('result error_during_execution (is_error): only prompt commands are supported in streaming mode');
  });

  it('yields the same events and summary wherever the stream is cut into chunks', () => {
    const success = transcript('success');
    const expectedSuccess = parseChunks([success]);
    for (let cut = 0; cut <= success.length; cut += 1) {
      expect(parseChunks([success.subarray(0, cut), success.subarray(cut)])).toEqual(expectedSuccess);
    }
    const whole = Buffer.concat([success, transcript('malformed-line'), transcript('unknown-types')]);
    const expected = parseChunks([whole]);
    expect(expected.events).toHaveLength(7 + 5 + 9);
    expect(parseChunks(Array.from({ length: whole.length }, (_, i) => whole.subarray(i, i + 1)))).toEqual(expected);
    // Random three-way cuts from a fixed-seed generator, so a failure reproduces.
    let seed = 42;
    const next = (bound: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % bound;
    };
    for (let round = 0; round < 300; round += 1) {
      const [a, b] = [next(whole.length + 1), next(whole.length + 1)].sort((x, y) => x - y) as [number, number];
      expect(parseChunks([whole.subarray(0, a), whole.subarray(a, b), whole.subarray(b)])).toEqual(expected);
    }
  });

  it('yields the same events wherever a string stream is cut, surrogate pairs included', () => {
    const whole = transcript('success').toString('utf8');
    const expected = parseChunks([whole]);
    for (let cut = 0; cut <= whole.length; cut += 1) {
      expect(parseChunks([whole.slice(0, cut), whole.slice(cut)])).toEqual(expected);
    }
  });

  it('decodes a UTF-8 emoji split across Buffer chunks', () => {
    const line = Buffer.from('{"type":"result","subtype":"success","is_error":false,"result":"shipped 🚀"}\n');
    const emojiStart = line.indexOf(Buffer.from('🚀'));
    const parser = createStreamJsonParser();
    expect(parser.push(line.subarray(0, emojiStart + 1))).toEqual([]);
    expect(parser.push(line.subarray(emojiStart + 1, emojiStart + 3))).toEqual([]);
    expect(parser.push(line.subarray(emojiStart + 3))).toHaveLength(1);
    expect(parser.summary().result?.text).toBe('shipped 🚀');
  });

  it('records a line over 8 MiB as malformed with its first 200 characters, and parses the next line', () => {
    const parser = createStreamJsonParser();
    const start = '{"type":"assistant","message":{"content":[{"type":"text","text":"';
    parser.push(start);
    const filler = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 9; i += 1) expect(parser.push(filler)).toEqual([]);
    const after = parser.push('"}]}}\n{"type":"result","subtype":"success","is_error":false}\n');
    expect(after).toMatchObject([{ line: 2, type: 'result' }]);
    const summary = parser.summary();
    expect(summary.malformed).toEqual([{ line: 1, text: (start + 'x'.repeat(200)).slice(0, 200), error: `line longer than ${MAX_LINE_BYTES} bytes` }]);
    expect(summary.events).toBe(1);
  });

  it('measures the line limit in UTF-8 bytes: exactly maxLineBytes is kept, one more is not', () => {
    const line = '{"type":"note","text":"é"}'; // 27 bytes, 26 characters
    expect(summarizeStreamJson(`${line}\n`, { maxLineBytes: 27 })).toMatchObject({ events: 1, malformed: [] });
    expect(summarizeStreamJson(`${line}\n${line}`, { maxLineBytes: 26 })).toMatchObject({
      events: 0,
      malformed: [
        { line: 1, text: line, error: 'line longer than 26 bytes' },
        { line: 2, text: line, error: 'line longer than 26 bytes' },
      ],
    });
    expect(() => createStreamJsonParser({ maxLineBytes: 0 })).toThrow(RangeError);
  });

  it(`keeps the first ${MAX_MALFORMED_RECORDS} malformed lines, each cut to 200 characters, and counts them all`, () => {
    const summary = summarizeStreamJson(`${'y'.repeat(500)}\n`.repeat(MAX_MALFORMED_RECORDS + 5));
    expect(summary.malformedLines).toBe(MAX_MALFORMED_RECORDS + 5);
    expect(summary.malformed).toHaveLength(MAX_MALFORMED_RECORDS);
    expect(summary.malformed.every((record) => record.text.length === 200)).toBe(true);
  });
});

describe('turnVerdict', () => {
  const ok = summarizeStreamJson(transcript('success'));
  const apiError = summarizeStreamJson(
    '{"type":"result","subtype":"success","is_error":true,"duration_api_ms":0,"num_turns":1,"result":"  API Error: Rate limit reached\\n"}\n',
  );

  it('fails a result whose subtype says success but whose is_error is true', () => {
    expect(turnVerdict(apiError, 0)).toEqual({ ok: false, reason: 'result success (is_error): API Error: Rate limit reached' });
  });

  it('names the exit code when the result error comes with a non-zero exit', () => {
    expect(turnVerdict(apiError, 1).reason).toBe('result success (is_error), exited with code 1: API Error: Rate limit reached');
  });

  it('fails an error subtype even when is_error is false', () => {
    const summary = summarizeStreamJson('{"type":"result","subtype":"error_max_turns","is_error":false,"num_turns":10}');
    expect(turnVerdict(summary, 0)).toEqual({ ok: false, reason: 'result error_max_turns: no result text' });
  });

  it('fails a non-zero exit with its code, adding the first malformed line', () => {
    expect(turnVerdict(ok, 2)).toEqual({ ok: false, reason: 'exited with code 2' });
    expect(turnVerdict(ok, null)).toEqual({ ok: false, reason: 'exited without an exit code (killed by a signal)' });
    const truncated = summarizeStreamJson(transcript('no-result').subarray(0, 700));
    expect(turnVerdict(truncated, 137).reason).toMatch(/^exited with code 137; malformed stream-json at line 2: invalid JSON/);
  });

  it('caps a long result text', () => {
    const summary = summarizeStreamJson(JSON.stringify({ type: 'result', subtype: 'error_during_execution', is_error: true, result: 'z'.repeat(5000) }));
    expect(turnVerdict(summary, 0).reason).toHaveLength(500);
  });
});

describe('sumUsage and sumCost', () => {
  const a: TokenUsage = { inputTokens: 1, outputTokens: 2, cacheCreationInputTokens: 3, cacheReadInputTokens: 4 };
  const b: TokenUsage = { inputTokens: 10, outputTokens: 20, cacheCreationInputTokens: 30, cacheReadInputTokens: 40 };

  it('adds usages field by field, treating null as unknown', () => {
    expect(sumUsage(a, b)).toEqual({ inputTokens: 11, outputTokens: 22, cacheCreationInputTokens: 33, cacheReadInputTokens: 44 });
    expect(sumUsage(null, b)).toBe(b);
    expect(sumUsage(a, null)).toBe(a);
    expect(sumUsage(null, null)).toBeNull();
  });

  it('adds costs without float noise, treating null as unknown', () => {
    expect(sumCost(0.1, 0.2)).toBe(0.3);
    expect([0.0412735, 0.0123, null, 0.024].reduce<number | null>(sumCost, null)).toBe(0.0775735);
    expect(sumCost(null, null)).toBeNull();
  });

  it('accumulates a unit over several turns from their summaries', () => {
    const turns = ['success', 'error-result', 'no-result'].map((name) => summarizeStreamJson(transcript(name)).result);
    expect(turns.reduce<TokenUsage | null>((sum, result) => sumUsage(sum, result?.usage ?? null), null)).toEqual({
      inputTokens: 21,
      outputTokens: 208,
      cacheCreationInputTokens: 5103,
      cacheReadInputTokens: 49807,
    });
    expect(turns.reduce<number | null>((sum, result) => sumCost(sum, result?.totalCostUsd ?? null), null)).toBe(0.0535735);
  });
});

describe('transientApiFailure', () => {
  const line = (event: Record<string, unknown>) => `${JSON.stringify(event)}\n`;
  const init = line({ type: 'system', subtype: 'init', session_id: 's' });
  const errorResult = (status: number | null) => line({ type: 'result', subtype: 'success', is_error: true, session_id: 's', result: 'API Error', api_error_status: status });

  it('reads 429 as rate limited, 529 as overloaded and other 5xx as server errors; 4xx others and agent errors are the turn\'s own', () => {
    expect(transientApiFailure(summarizeStreamJson(init + errorResult(429)), 1)).toEqual({ kind: 'rate_limited', status: 429, resetAt: null });
    expect(transientApiFailure(summarizeStreamJson(init + errorResult(529)), 1)).toEqual({ kind: 'overloaded', status: 529, resetAt: null });
    expect(transientApiFailure(summarizeStreamJson(init + errorResult(503)), 1)).toEqual({ kind: 'server_error', status: 503, resetAt: null });
    expect(transientApiFailure(summarizeStreamJson(init + errorResult(400)), 1)).toBeNull();
    expect(transientApiFailure(summarizeStreamJson(init + errorResult(null)), 1)).toBeNull();
  });

  it('takes the reset time of a rejected rate_limit_event (seconds) in ms, and ignores an allowed one', () => {
    const rejected = line({ type: 'rate_limit_event', rate_limit_info: { status: 'rejected', resetsAt: 1796266177, rateLimitType: 'five_hour' } });
    expect(transientApiFailure(summarizeStreamJson(init + rejected + errorResult(429)), 1)).toEqual({ kind: 'rate_limited', status: 429, resetAt: 1_796_266_177_000 });
    const allowed = line({ type: 'rate_limit_event', rate_limit_info: { status: 'allowed', resetsAt: 1796266177 } });
    expect(transientApiFailure(summarizeStreamJson(init + allowed + errorResult(400)), 1)).toBeNull();
  });

  it('falls back on the last api_retry status when the CLI died without a result', () => {
    const retry = line({ type: 'system', subtype: 'api_retry', attempt: 1, error_status: 529 });
    expect(transientApiFailure(summarizeStreamJson(init + retry), 1)).toEqual({ kind: 'overloaded', status: 529, resetAt: null });
    expect(transientApiFailure(summarizeStreamJson(init + retry), 0)).toBeNull();
  });
});

describe('turnCost', () => {
  const result = (fields: Record<string, unknown>) =>
    summarizeStreamJson(`${JSON.stringify({ type: 'result', subtype: 'success', is_error: false, session_id: 's', ...fields })}\n`).result;

  it('takes the turn\'s own figures from model_usage_since_last_result, not the session\'s running total_cost_usd', () => {
    const r = result({ total_cost_usd: 0.0364, model_usage_since_last_result: { a: { costUSD: 0.0011, inputTokens: 10, outputTokens: 1 }, b: { costUSD: 0.0008, inputTokens: 5, outputTokens: 2 } } });
    expect(r === null ? null : turnCost(r)).toEqual({ costUsd: 0.0019, source: 'since-last-result' });
  });

  it('takes total_cost_usd, rounded, when the CLI does not report the turn\'s own figures', () => {
    const r = result({ total_cost_usd: 0.036351999999999995 });
    expect(r === null ? null : turnCost(r)).toEqual({ costUsd: 0.036352, source: 'process-total' });
  });
});
