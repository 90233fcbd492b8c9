/**
 * The parser against transcripts recorded from the real CLIs (test/fixtures/recorded/README.md
 * says how each was made): what each says, read the way a turn's verdict, cost, session and
 * transient failure are decided.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { codexTransientFailure } from '../actors/codexJson.js';
import { summarizeStreamJson } from '../actors/streamJson.js';
import { transientApiFailure, turnCost, turnVerdict } from '../actors/turnVerdict.js';
import { fixture } from './helpers/tempStore.js';

const recorded = (name: string) => readFileSync(fixture(`recorded/${name}.jsonl`));

describe('Claude Code 2.1.332 transcripts', () => {
  it('a denied Write: the CLI says success, statecrew records the denial and fails the turn', () => {
    const summary = summarizeStreamJson(recorded('claude-2.1.332-write-denied'));
    expect(summary.result).toMatchObject({ subtype: 'success', isError: false });
    expect(summary.permissionDenials).toEqual([{ toolName: 'Write', toolUseId: 'toolu_4', target: '/tmp/explore/w/hello.txt' }]);
    expect(summary.malformed).toEqual([]);
    expect(turnVerdict(summary, 0).ok).toBe(false);
    expect(turnVerdict(summary, 0, { permissionDenials: 'accept' }).ok).toBe(true);
  });

  it('a subscription\'s rate limit: rate_limit_event rejected with its reset time, a transient failure', () => {
    const summary = summarizeStreamJson(recorded('claude-2.1.332-rate-limit-rejected'));
    expect(summary.rateLimit).toEqual({ status: 'rejected', resetsAt: 1_796_266_177_000, rateLimitType: 'five_hour' });
    expect(summary.result).toMatchObject({ isError: true, apiErrorStatus: 429 });
    expect(transientApiFailure(summary, 1)).toEqual({ kind: 'rate_limited', status: 429, resetAt: 1_796_266_177_000 });
  });

  it('an overloaded API after the CLI\'s own retry: api_retry, then an error result with 529', () => {
    const summary = summarizeStreamJson(recorded('claude-2.1.332-overloaded-529'));
    expect(summary.apiRetries).toBe(1);
    expect(summary.lastApiErrorStatus).toBe(529);
    expect(transientApiFailure(summary, 1)).toEqual({ kind: 'overloaded', status: 529, resetAt: null });
    expect(turnVerdict(summary, 1).reason).toMatch(/^result success \(is_error\), exited with code 1: API Error: 529 Overloaded/);
  });

  it('a resumed session\'s turn: total_cost_usd is the session\'s running total; the turn\'s own cost is half of it', () => {
    const summary = summarizeStreamJson(recorded('claude-2.1.332-resumed-session'));
    expect(summary.result?.totalCostUsd).toBe(0.01);
    expect(summary.result?.usageSinceLastResult?.costUsd).toBe(0.005);
    expect(summary.result === null ? null : turnCost(summary.result)).toEqual({ costUsd: 0.005, source: 'since-last-result' });
  });
});

describe('Codex CLI 0.171.0 transcripts', () => {
  const codex = (name: string) => summarizeStreamJson(recorded(name), { dialect: 'codex' });

  it('a resumed thread: the thread id, and usage that is the thread\'s running total', () => {
    const summary = codex('codex-0.171.0-resumed-thread');
    expect(summary.sessionId).toBe('01a239ab-be57-7ed1-8eb2-e304e812ec6b');
    expect(summary.result).toMatchObject({ subtype: 'success', isError: false, usage: { inputTokens: 3000, outputTokens: 150, cacheReadInputTokens: 300 } });
    expect(turnVerdict(summary, 0)).toEqual({ ok: true, reason: 'result success' });
  });

  it('a 429: turn.failed with the CLI\'s message, a transient rate limit without a reset time', () => {
    const summary = codex('codex-0.171.0-rate-limited-429');
    expect(turnVerdict(summary, 1).reason).toBe('result turn.failed (is_error), exited with code 1: exceeded retry limit, last status: 429 Too Many Requests');
    expect(codexTransientFailure(summary.result)).toEqual({ kind: 'rate_limited', status: 429, resetAt: null });
  });

  it('a shell command: a command_execution item opened, then closed — a tool use with its result', () => {
    const summary = codex('codex-0.171.0-command');
    expect(summary.toolUses).toBe(1);
    expect(summary.openToolUses).toBe(0);
    const open = summarizeStreamJson(recorded('codex-0.171.0-command').toString('utf8').split('\n').slice(0, 4).join('\n'), { dialect: 'codex' });
    expect(open.openToolUses).toBe(1);
  });
});
