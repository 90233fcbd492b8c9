/**
 * Failures that are not the agent's fault, with the real Claude Code CLI (2.1.332) offline
 * against a local mock of the Messages API: an overloaded API, a subscription's rate limit with
 * a reset time (held fleet-wide for the agent), and giving up after `maxTransientWait`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { readStatus } from '../src/status.js';
import { CURRENT_CLAUDE, claudeEnv } from './helpers/claudeCli.js';
import { startMessagesApiMock, type MessagesApiMock, type MockReply, type MockRequest } from './helpers/messagesApiMock.js';
import { fixture, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
let api: MessagesApiMock | null = null;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-claude-transient-'));
});

afterEach(async () => {
  await api?.close();
  api = null;
  cleanup();
});

const COMMAND = ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--permission-mode', 'acceptEdits', '--resume', '{sessionId}'];
const OVERLOADED: MockReply = { kind: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded' };
/** The conversation's own requests, without the CLI's side requests (titles, warmups). */
const ownRequests = (requests: readonly MockRequest[]) => requests.filter((r) => !r.model.includes('haiku') && r.latestUserText !== 'Warmup');

function planWith(units: { id: string; milestone: string; env: Record<string, string>; extra?: Record<string, unknown>; command?: readonly string[] }[], dependsOn: Record<string, string[]> = {}) {
  const milestones = [...new Set(units.map((u) => u.milestone))].map((id) => ({
    id,
    ...(dependsOn[id] === undefined ? {} : { dependsOn: dependsOn[id] }),
    units: units.filter((u) => u.milestone === id).map((u) => ({ id: u.id, command: u.command ?? COMMAND, input: `task ${u.id}`, env: u.env, ...u.extra })),
  }));
  return parsePlan(JSON.stringify({ version: 1, workers: 2, defaults: { protocol: 'stream-json', retryBackoff: '10ms', maxAttempts: 1, timeout: '2m' }, milestones }), {
    file: path.join(dir, 'plan.yaml'),
    cwd: dir,
  });
}

describe('turns the API failed', () => {
  it('runs an overloaded turn again without using an attempt or counting toward stuck, then completes', async () => {
    let rejected = 0;
    api = await startMessagesApiMock((request) => {
      if (request.model.includes('haiku') || request.latestUserText === 'Warmup') return { kind: 'text', text: 'ok' };
      // The first three turns meet an overloaded API; stuckAfter is 3, maxAttempts 1.
      if (rejected < 3) {
        rejected++;
        return OVERLOADED;
      }
      return { kind: 'text', text: 'done' };
    });
    // CLAUDE_CODE_MAX_RETRIES=0: the CLI gives up at the first 529 instead of retrying 10 times itself.
    const env = { ...claudeEnv(dir, CURRENT_CLAUDE, api.url), CLAUDE_CODE_MAX_RETRIES: '0' };
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    await runtime.start(planWith([{ id: 'a', milestone: 'm', env }]));
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('a');
    const status = await readStatus(runtime.store);
    await runtime.store.close();
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.state, d.attempt, d.transient])).toEqual([
      ['failed', 1, 'overloaded'],
      ['failed', 1, 'overloaded'],
      ['failed', 1, 'overloaded'],
      ['completed', 1, null],
    ]);
    expect(dispatches[0]?.reason).toMatch(/API Error: 529 Overloaded/);
    // Backoff between them: each next turn started after the previous one ended.
    for (let i = 1; i < dispatches.length; i++) expect(dispatches[i]?.startedAt ?? 0).toBeGreaterThan(dispatches[i - 1]?.endedAt ?? Infinity);
    expect(status.units[0]).toMatchObject({ state: 'completed', attempts: 1, turns: 4, waiting: null });
  });

  it('waits for a rate limit\'s reset time, and holds every unit of the same agent until then', async () => {
    // A subscription's 5-hour limit, rejected until `resetAt` (the header is in epoch seconds).
    const resetAt = (Math.floor(Date.now() / 1000) + 4) * 1000;
    const limitHit = path.join(dir, 'limit-hit');
    api = await startMessagesApiMock((request) => {
      if (request.model.includes('haiku') || request.latestUserText === 'Warmup') return { kind: 'text', text: 'ok' };
      if (request.prompt.startsWith('task a') && Date.now() < resetAt) {
        fs.writeFileSync(limitHit, String(request.at));
        const reset = String(resetAt / 1000);
        return {
          kind: 'error', status: 429, errorType: 'rate_limit_error', message: 'Rate limited',
          headers: { 'anthropic-ratelimit-unified-status': 'rejected', 'anthropic-ratelimit-unified-reset': reset, 'anthropic-ratelimit-unified-representative-claim': 'five_hour', 'anthropic-ratelimit-unified-5h-status': 'rejected', 'anthropic-ratelimit-unified-5h-reset': reset },
        };
      }
      return { kind: 'text', text: `done ${request.prompt}` };
    });
    const env = claudeEnv(dir, CURRENT_CLAUDE, api.url, 'subscription');
    const gate = path.join(dir, 'gate');
    // Unit b runs the same agent in another milestone, once its gate opens: after a's turn met the limit.
    const plan = planWith([
      { id: 'a', milestone: 'ma', env },
      { id: 'b-gate', milestone: 'mb', env: {}, command: [process.execPath, fixture('exit-when-file.mjs'), gate, '0'], extra: { protocol: 'text' } },
      { id: 'b', milestone: 'mb', env },
    ]);
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    await runtime.start(plan);
    // Open b's gate once a's rate-limited turn is recorded.
    await vi.waitFor(async () => {
      const [first] = await runtime.store.listDispatches('a');
      expect(first).toMatchObject({ state: 'failed', transient: 'rate_limited', retryAt: resetAt });
    }, { timeout: 20_000, interval: 50 });
    fs.writeFileSync(gate, '');
    // b is held while the limit lasts: status says so.
    await vi.waitFor(async () => {
      const status = await readStatus(runtime.store);
      expect(status.units.find((u) => u.id === 'b')?.waiting).toBe(`rate limited until ${new Date(resetAt).toISOString()} (agent claude)`);
    }, { timeout: 20_000, interval: 50 });
    const waitingA = (await readStatus(runtime.store)).units.find((u) => u.id === 'a')?.waiting;
    expect(waitingA).toBe(`rate limited until ${new Date(resetAt).toISOString()}`);
    const result = await runtime.finished;
    const status = await readStatus(runtime.store);
    const a = await runtime.store.listDispatches('a');
    await runtime.store.close();
    expect(result.exitCode).toBe(0);
    expect(a.map((d) => [d.state, d.attempt, d.transient])).toEqual([['failed', 1, 'rate_limited'], ['completed', 1, null]]);
    expect(a[0]?.reason).toMatch(/limit/i);
    // No turn of the agent reached the API between the limit and its reset: a's retry and b's turn came after it.
    const hit = Number(fs.readFileSync(limitHit, 'utf8'));
    const after = ownRequests(api.requests).filter((r) => r.at > hit);
    // (a's retry resumes its session and sends its input again — the CLI appends it to the rejected one.)
    expect(after.map((r) => r.latestUserText).sort()).toEqual(['task a\n\ntask a', 'task b']);
    for (const request of after) expect(request.at).toBeGreaterThanOrEqual(resetAt);
    expect(status.units.map((u) => [u.id, u.state, u.attempts, u.turns, u.waiting])).toEqual([
      ['a', 'completed', 1, 2, null],
      ['b-gate', 'completed', 1, 1, null],
      ['b', 'completed', 1, 1, null],
    ]);
  });

  it('fails the unit with the API\'s reason once maxTransientWait has passed', async () => {
    api = await startMessagesApiMock((request) => (request.model.includes('haiku') || request.latestUserText === 'Warmup' ? { kind: 'text', text: 'ok' } : OVERLOADED));
    const env = { ...claudeEnv(dir, CURRENT_CLAUDE, api.url), CLAUDE_CODE_MAX_RETRIES: '0' };
    const runtime = createRuntime({ store: path.join(dir, 's.db') });
    await runtime.start(planWith([{ id: 'a', milestone: 'm', env, extra: { maxTransientWait: '1s' } }]));
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('a');
    const status = await readStatus(runtime.store);
    await runtime.store.close();
    expect(result.exitCode).toBe(1);
    expect(dispatches.length).toBeGreaterThanOrEqual(2);
    expect(dispatches.every((d) => d.state === 'failed' && d.transient === 'overloaded' && d.attempt === 1)).toBe(true);
    // It gave up at the first failure that ended 1 s or more after the first one ended.
    const first = dispatches[0]?.endedAt ?? 0;
    expect((dispatches.at(-1)?.endedAt ?? 0) - first).toBeGreaterThanOrEqual(1000);
    expect((dispatches.at(-2)?.endedAt ?? 0) - first).toBeLessThan(1000);
    expect(status.units[0]).toMatchObject({ state: 'failed', waiting: null });
    expect(status.dispatches.at(-1)?.reason).toMatch(/API Error: 529 Overloaded/);
  });
});
