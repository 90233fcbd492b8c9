import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { resolveSessionCommand } from '../src/sessionCommand.js';
import { readStatus } from '../src/status.js';
import { fixture, tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-stream-json-'));
});

afterEach(() => cleanup());

const agent = (mode: string) =>
  `[${JSON.stringify(process.execPath)}, ${JSON.stringify(fixture('fake-claude.mjs'))}, --mode, ${mode}, --resume, "{sessionId}"]`;

async function run(mode: string, maxAttempts = 1) {
  const plan = parsePlan(
    [
      'version: 1',
      'workers: 1',
      `defaults: { protocol: stream-json, retryBackoff: 10ms, maxAttempts: ${maxAttempts} }`,
      'milestones:',
      '  - id: m',
      `    units: [{ id: m/agent, input: "fix the bug", command: ${agent(mode)} }]`,
    ].join('\n'),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
  const runtime = createRuntime({ store: path.join(dir, 's.db') });
  await runtime.start(plan);
  const result = await runtime.finished;
  const dispatches = await runtime.store.listDispatches('m/agent');
  const events = await Promise.all(dispatches.map((d) => runtime.store.turnEvents(d.id)));
  const status = await readStatus(runtime.store);
  await runtime.store.close();
  return { result, dispatches, events, status };
}

describe('stream-json turns', () => {
  it('records every event, the session, cost and tokens of a successful turn', async () => {
    const { result, dispatches, events, status } = await run('success');
    expect(result.exitCode).toBe(0);
    expect(dispatches[0]).toMatchObject({ state: 'completed', costUsd: 0.0125, inputTokens: 100, outputTokens: 20, resumeMismatch: false });
    expect(dispatches[0]?.sessionId).toMatch(/^session-/);
    expect(events[0]?.map((e) => [e.line, e.type, e.subtype])).toEqual([
      [1, 'system', 'init'],
      [2, 'assistant', null],
      [3, 'user', null],
      [4, 'result', 'success'],
    ]);
    // The first turn dropped the `--resume {sessionId}` pair: there was no session yet.
    expect(assistantText(events[0]?.[1]?.body)).toBe('prompt: fix the bug resumed: no');
    expect(status.units[0]).toMatchObject({ state: 'completed', costUsd: 0.0125, inputTokens: 100, outputTokens: 20 });
  });

  it('fails a turn whose result is an error even on exit code 0, and resumes its session on the retry', async () => {
    const { result, dispatches, events, status } = await run('error-once', 2);
    expect(result.exitCode).toBe(0);
    expect(dispatches.map((d) => [d.state, d.exitCode])).toEqual([
      ['failed', 0],
      ['completed', 0],
    ]);
    expect(dispatches[0]?.reason).toMatch(/error_during_execution.*the tool failed/);
    expect(dispatches[1]?.sessionId).toBe(dispatches[0]?.sessionId);
    expect(assistantText(events[1]?.[1]?.body)).toBe(`prompt: fix the bug resumed: ${dispatches[0]?.sessionId ?? ''}`);
    expect(status.units[0]).toMatchObject({ costUsd: 0.025, inputTokens: 200, outputTokens: 40 });
  });

  it('fails a turn that exits 0 without a result event', async () => {
    const { dispatches } = await run('no-result');
    expect(dispatches[0]).toMatchObject({ state: 'failed', exitCode: 0, reason: 'exited 0 without a result event' });
  });

  it('fails a turn with a malformed line, naming the line, and records it', async () => {
    const { dispatches, events } = await run('malformed');
    expect(dispatches[0]?.state).toBe('failed');
    expect(dispatches[0]?.reason).toMatch(/^malformed stream-json at line 2/);
    expect(events[0]?.find((e) => e.type === '(malformed)')?.line).toBe(2);
  });

  it('records a resumed turn that reports another session as a resume mismatch', async () => {
    const { dispatches } = await run('mismatch', 2);
    expect(dispatches.map((d) => [d.state, d.resumeMismatch])).toEqual([
      ['failed', false],
      ['completed', true],
    ]);
    expect(dispatches[1]?.sessionId).not.toBe(dispatches[0]?.sessionId);
  });
});

function assistantText(body: string | undefined): string | undefined {
  const event = JSON.parse(body ?? '{}') as { message?: { content?: { text?: string }[] } };
  return event.message?.content?.[0]?.text;
}

describe('resolveSessionCommand', () => {
  const command = ['claude', '-p', '--output-format', 'stream-json', '--resume', '{sessionId}'];
  it('puts the session into the placeholder', () => {
    expect(resolveSessionCommand(command, null, 's-1')).toEqual(['claude', '-p', '--output-format', 'stream-json', '--resume', 's-1']);
  });
  it('drops the placeholder and its flag on a first turn', () => {
    expect(resolveSessionCommand(command, null, null)).toEqual(['claude', '-p', '--output-format', 'stream-json']);
  });
  it('drops Codex\'s resume subcommand with the placeholder on a first turn', () => {
    expect(resolveSessionCommand(['codex', 'exec', '--json', 'resume', '{sessionId}'], null, null)).toEqual(['codex', 'exec', '--json']);
    expect(resolveSessionCommand(['codex', 'exec', '--json', 'resume', '{sessionId}'], null, 't-1')).toEqual(['codex', 'exec', '--json', 'resume', 't-1']);
  });
  it('uses initialCommand on a first turn when the unit has one', () => {
    expect(resolveSessionCommand(command, ['claude', '-p'], null)).toEqual(['claude', '-p']);
  });
});
