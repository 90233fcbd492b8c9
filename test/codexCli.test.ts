/**
 * statecrew driving the real Codex CLI (npm `@openai/codex` 0.171.0) with `protocol: codex-json`,
 * offline against a local mock of the Responses API through a custom model provider.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { readStatus } from '../src/status.js';
import { startResponsesApiMock, type ResponsesApiMock, type ResponsesReply, type ResponsesRequest } from './helpers/responsesApiMock.js';
import { tempDir } from './helpers/tempStore.js';

const require = createRequire(import.meta.url);
const CODEX = path.join(path.dirname(require.resolve('@openai/codex/package.json')), 'bin', 'codex.js');

let dir: string;
let cleanup: () => void;
let api: ResponsesApiMock | null = null;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-codex-'));
});

afterEach(async () => {
  await api?.close();
  api = null;
  cleanup();
});

/**
 * `codex exec --json` against the mock, as a plan would write it: the model provider given with
 * `-c`, the sandbox off (the test's commands are its own), the prompt on stdin, and the thread
 * resumed through `resume {sessionId}` (dropped on the first turn).
 */
function codexCommand(url: string, ...extra: string[]): string[] {
  const provider = `model_providers.mock={ name = "mock", base_url = "${url}", env_key = "MOCK_OPENAI_KEY", wire_api = "responses", request_max_retries = 0, stream_max_retries = 0 }`;
  return [process.execPath, CODEX, 'exec', '--json', '--skip-git-repo-check', '-s', 'danger-full-access', '-m', 'gpt-5-codex', '-c', 'model_provider=mock', '-c', provider, ...extra, 'resume', '{sessionId}'];
}

async function runCodex(unit: Record<string, unknown>, during?: (send: (text: string) => Promise<number>) => Promise<void>, name = 'run') {
  const home = path.join(dir, name, 'home');
  mkdirSync(path.join(home, '.codex'), { recursive: true });
  const env = { HOME: home, CODEX_HOME: path.join(home, '.codex'), MOCK_OPENAI_KEY: 'sk-test-offline' };
  const plan = parsePlan(
    JSON.stringify({
      version: 1,
      workers: 1,
      defaults: { protocol: 'codex-json', retryBackoff: '10ms', maxAttempts: 1, timeout: '2m' },
      milestones: [{ id: 'm', units: [{ id: 'm/codex', input: 'first task', env, ...unit }] }],
    }),
    { file: path.join(dir, name, 'plan.yaml'), cwd: dir },
  );
  const runtime = createRuntime({ store: path.join(dir, name, 's.db') });
  await runtime.start(plan);
  await during?.((text) => runtime.sendMessage('m/codex', text));
  const result = await runtime.finished;
  const dispatches = await runtime.store.listDispatches('m/codex');
  const events = await Promise.all(dispatches.map((d) => runtime.store.turnEvents(d.id)));
  const status = await readStatus(runtime.store);
  await runtime.store.close();
  return { result, dispatches, events, status, unit: status.units[0] };
}

describe('the real Codex CLI through statecrew (protocol: codex-json)', () => {
  it('records the events, captures the thread, resumes it for each message, and counts each turn\'s own tokens', async () => {
    let release: () => void = () => undefined;
    const queued = new Promise<void>((resolve) => { release = resolve; });
    api = await startResponsesApiMock(async (request) => {
      // The first turn waits until the test has queued its two messages.
      if (request.n === 1) await queued;
      return { kind: 'text', text: `reply to ${request.userTexts.at(-1) ?? ''}` };
    });
    const { result, dispatches, events, unit } = await runCodex({ command: codexCommand(api.url) }, async (send) => {
      await send('second task');
      await send('third task');
      release();
    });
    expect(result.exitCode).toBe(0);
    const thread = dispatches[0]?.sessionId;
    expect(thread).toMatch(/^[0-9a-f-]{36}$/);
    expect(dispatches.map((d) => [d.state, d.sessionId, d.resumeMismatch])).toEqual([
      ['completed', thread, false],
      ['completed', thread, false],
      ['completed', thread, false],
    ]);
    expect(events[0]?.map((e) => e.type)).toEqual(expect.arrayContaining(['thread.started', 'turn.started', 'item.completed', 'turn.completed']));
    // The API saw one conversation growing: each turn resumed the thread.
    expect((api.requests as ResponsesRequest[]).map((r) => r.userTexts)).toEqual([['first task'], ['first task', 'second task'], ['first task', 'second task', 'third task']]);
    // Codex reports the thread's running total (1000, 2000, 3000 input tokens); each turn's own is 1000.
    const reported = events.map((turn) => (JSON.parse(turn.find((e) => e.type === 'turn.completed')?.body ?? '{}') as { usage?: { input_tokens?: number } }).usage?.input_tokens);
    expect(reported).toEqual([1000, 2000, 3000]);
    expect(dispatches.map((d) => [d.inputTokens, d.outputTokens, d.costUsd])).toEqual([[1000, 50, null], [1000, 50, null], [1000, 50, null]]);
    expect(unit).toMatchObject({ state: 'completed', attempts: 1, turns: 3, sessionId: thread, inputTokens: 3000, outputTokens: 150, costUsd: null });
  });

  it('fails a turn with the CLI\'s own words: turn.failed\'s message, or its last stderr line when it exits before any event', async () => {
    api = await startResponsesApiMock(() => ({ kind: 'error', status: 400, message: 'Invalid prompt: your prompt was flagged' }));
    const failed = await runCodex({ command: codexCommand(api.url) });
    expect(failed.dispatches[0]).toMatchObject({ state: 'failed', exitCode: 1, transient: null });
    expect(failed.dispatches[0]?.reason).toMatch(/^result turn\.failed \(is_error\), exited with code 1: .*Invalid prompt: your prompt was flagged/);

    const refused = await runCodex({ command: codexCommand(api.url, '--no-such-flag') }, undefined, 'refused');
    expect(refused.dispatches[0]).toMatchObject({ state: 'failed', exitCode: 2 });
    // clap's last stderr line is its hint; the error line above it is in the turn's log.
    expect(refused.dispatches[0]?.reason).toBe("exited with code 2: For more information, try '--help'.");
  });

  it('runs a turn the API rate limited again without using an attempt', async () => {
    let limited = false;
    api = await startResponsesApiMock((): ResponsesReply => {
      if (!limited) {
        limited = true;
        return { kind: 'error', status: 429, message: 'Rate limit reached for requests' };
      }
      return { kind: 'text', text: 'done' };
    });
    const { dispatches, unit } = await runCodex({ command: codexCommand(api.url) });
    expect(dispatches.map((d) => [d.state, d.attempt, d.transient])).toEqual([['failed', 1, 'rate_limited'], ['completed', 1, null]]);
    expect(dispatches[0]?.reason).toMatch(/429 Too Many Requests/);
    expect(unit).toMatchObject({ state: 'completed', attempts: 1, turns: 2 });
  });

  it('lets a long command run past a short stall limit while its command_execution item is open', async () => {
    const marker = path.join(dir, 'slept');
    api = await startResponsesApiMock((request) =>
      request.toolOutputs.length === 0 ? { kind: 'command', cmd: `sleep 4; echo slept > ${marker}` } : { kind: 'text', text: 'the command finished' },
    );
    const patient = await runCodex({ command: codexCommand(api.url), stallTimeout: '1s', toolTimeout: '30s' });
    expect(patient.dispatches.map((d) => [d.state, d.reason])).toEqual([['completed', expect.any(String)]]);
    expect(readFileSync(marker, 'utf8')).toBe('slept\n');
    expect(patient.events[0]?.filter((e) => e.type === 'item.started').length).toBeGreaterThanOrEqual(1);

    const strict = await runCodex({ command: codexCommand(api.url), stallTimeout: '1s', toolTimeout: '1s' }, undefined, 'strict');
    expect(strict.dispatches[0]).toMatchObject({ state: 'failed', outcome: 'stalled' });
    expect(strict.dispatches[0]?.reason).toMatch(/while a tool call ran \(tool timeout\)/);
  });
});
