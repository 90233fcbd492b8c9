/**
 * statecrew driving the real Claude Code CLI (npm `@anthropic-ai/claude-code`, current and
 * earlier versions), offline against a local mock of the Messages API, through plans written
 * the README's way. What the CLI reports is read from its real output, never assumed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseResultEvent } from '../actors/streamJson.js';
import { parsePlan } from '../src/plan/load.js';
import { createRuntime } from '../src/runtime.js';
import { readStatus } from '../src/status.js';
import { CLAUDE_VERSIONS, CURRENT_CLAUDE, claudeEnv, type ClaudeVersion } from './helpers/claudeCli.js';
import { startMessagesApiMock, type MessagesApiMock, type MockReply, type MockRequest } from './helpers/messagesApiMock.js';
import { tempDir } from './helpers/tempStore.js';

let dir: string;
let cleanup: () => void;
let api: MessagesApiMock | null = null;

beforeEach(() => {
  ({ dir, cleanup } = tempDir('statecrew-claude-'));
});

afterEach(async () => {
  await api?.close();
  api = null;
  cleanup();
});

/** The README's agent command, with the permission flags a test gives it. */
const readmeCommand = (...permission: string[]) => ['claude', '-p', '--output-format', 'stream-json', '--verbose', ...permission, '--resume', '{sessionId}'];

interface UnitOptions {
  readonly command: readonly string[];
  readonly input?: string;
  readonly extra?: Record<string, unknown>;
  readonly env?: Record<string, string>;
}

/** Runs a one-unit plan (`m/agent`) with the real CLI of `version`; `during` runs once the runtime started. */
async function runAgent(version: ClaudeVersion, unit: UnitOptions, during?: (send: (text: string) => Promise<number>) => Promise<void>) {
  if (api === null) throw new Error('start the mock first');
  const env = { ...claudeEnv(dir, version, api.url), ...unit.env };
  const plan = parsePlan(
    JSON.stringify({
      version: 1,
      workers: 1,
      defaults: { protocol: 'stream-json', retryBackoff: '10ms', maxAttempts: 1, timeout: '2m' },
      milestones: [{ id: 'm', units: [{ id: 'm/agent', command: unit.command, input: unit.input ?? 'write hello.txt', env, ...unit.extra }] }],
    }),
    { file: path.join(dir, 'plan.yaml'), cwd: dir },
  );
  const runtime = createRuntime({ store: path.join(dir, 'statecrew.db') });
  await runtime.start(plan);
  await during?.((text) => runtime.sendMessage('m/agent', text));
  const result = await runtime.finished;
  const dispatches = await runtime.store.listDispatches('m/agent');
  const events = await Promise.all(dispatches.map((d) => runtime.store.turnEvents(d.id)));
  const status = await readStatus(runtime.store);
  await runtime.store.close();
  return { result, dispatches, events, status, unit: status.units[0] };
}

/** The mock's conversation for "write a file": a Write tool use, then a closing text. */
function writesFile(file: string) {
  return (request: MockRequest): MockReply => {
    if (request.model.includes('haiku')) return { kind: 'text', text: 'ok', usage: { input: 20, output: 5 } };
    if (request.toolResults.length === 0) return { kind: 'tool_use', name: 'Write', input: { file_path: file, content: 'hello from the agent\n' } };
    return { kind: 'text', text: request.toolResults[0]?.isError === true ? 'could not write' : 'wrote it' };
  };
}

describe('the real Claude Code CLI through statecrew', () => {
  it('runs a tool use that writes a file, and reports the session, attempts and turns', async () => {
    const file = path.join(dir, 'hello.txt');
    api = await startMessagesApiMock(writesFile(file));
    const { result, dispatches, unit } = await runAgent(CURRENT_CLAUDE, { command: readmeCommand('--permission-mode', 'acceptEdits') });
    expect(result.exitCode).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe('hello from the agent\n');
    expect(dispatches.map((d) => d.state)).toEqual(['completed']);
    expect(unit).toMatchObject({ state: 'completed', attempts: 1, turns: 1, resumeMismatches: 0, permissionDenials: [] });
    expect(unit?.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(unit?.sessionId).toBe(dispatches[0]?.sessionId);
  });

  it('fails a turn whose tools were denied, naming them, and records the denials in status; permissionDenials: accept completes it', async () => {
    const file = path.join(dir, 'hello.txt');
    api = await startMessagesApiMock(writesFile(file));
    // The README's earlier example: no permission flag, so the CLI denies Write and still reports success.
    const denied = await runAgent(CURRENT_CLAUDE, { command: readmeCommand() });
    expect(existsSync(file)).toBe(false);
    expect(denied.dispatches.map((d) => [d.state, d.exitCode])).toEqual([['failed', 0]]);
    expect(denied.dispatches[0]?.reason).toBe(`permission denied: Write ${file} (allow the tools in the command, e.g. --permission-mode acceptEdits or --allowedTools, or set permissionDenials: accept)`);
    expect(denied.unit).toMatchObject({ state: 'failed', permissionDenials: [{ dispatchId: denied.dispatches[0]?.id, tool: 'Write', target: file }] });
    // The CLI's own report, as recorded: success with the denial listed.
    const recorded = parseResultEvent(denied.events[0]?.find((e) => e.type === 'result')?.body ?? '');
    expect(recorded).toMatchObject({ subtype: 'success', isError: false, permissionDenials: [{ toolName: 'Write', target: file }] });

    cleanup();
    ({ dir, cleanup } = tempDir('statecrew-claude-'));
    const accepted = await runAgent(CURRENT_CLAUDE, { command: readmeCommand(), extra: { permissionDenials: 'accept' } });
    expect(accepted.unit).toMatchObject({ state: 'completed', permissionDenials: [{ tool: 'Write' }] });
  });

  it('keeps the CLI\'s explanation when it exits 1 before any event (--dangerously-skip-permissions as root)', async () => {
    // The refusal is the CLI's rule for root; this machine runs the suite as root (see the README's agent section).
    expect(process.getuid?.(), 'this test needs to run as root, where the CLI refuses the flag').toBe(0);
    api = await startMessagesApiMock(writesFile(path.join(dir, 'hello.txt')));
    const { dispatches } = await runAgent(CURRENT_CLAUDE, { command: readmeCommand('--dangerously-skip-permissions') });
    expect(dispatches[0]).toMatchObject({ state: 'failed', exitCode: 1 });
    expect(dispatches[0]?.reason).toMatch(/^exited with code 1: --dangerously-skip-permissions cannot be used with root\/sudo privileges/);
  });

  it('fails a turn on an API error after the CLI\'s own retries, with the CLI\'s message, and records its api_retry events', async () => {
    api = await startMessagesApiMock(() => ({ kind: 'error', status: 529, errorType: 'overloaded_error', message: 'Overloaded' }));
    // maxTransientWait 1ms: the unit gives up at the second such failure (test/claudeCodeTransient.test.ts waits them out).
    const { dispatches, events } = await runAgent(CURRENT_CLAUDE, {
      command: readmeCommand('--permission-mode', 'acceptEdits'),
      env: { CLAUDE_CODE_MAX_RETRIES: '1' },
      extra: { maxTransientWait: '1ms' },
    });
    expect(dispatches.map((d) => [d.state, d.transient, d.attempt])).toEqual([['failed', 'overloaded', 1], ['failed', 'overloaded', 1]]);
    expect(dispatches[0]).toMatchObject({ state: 'failed', exitCode: 1 });
    expect(dispatches[0]?.reason).toMatch(/^result success \(is_error\), exited with code 1: API Error: 529 Overloaded/);
    expect(events[0]?.filter((e) => e.subtype === 'api_retry').length).toBe(1);
    expect(parseResultEvent(events[0]?.find((e) => e.type === 'result')?.body ?? '')?.apiErrorStatus).toBe(529);
  });

  it('lets a long tool call run past a short stall limit while its tool use has no result, and stalls it without toolTimeout', async () => {
    const marker = path.join(dir, 'tool-finished');
    // A Bash command that is silent for 4 s: the CLI prints nothing until the tool's result.
    const command = `node -e "setTimeout(() => require('fs').writeFileSync('${marker}', 'done'), 4000)"`;
    api = await startMessagesApiMock((request) => {
      if (request.model.includes('haiku')) return { kind: 'text', text: 'ok' };
      if (request.toolResults.length === 0) return { kind: 'tool_use', name: 'Bash', input: { command, description: 'wait 4 s' } };
      return { kind: 'text', text: 'the command finished' };
    });
    const tools = readmeCommand('--allowedTools', 'Bash');
    const patient = await runAgent(CURRENT_CLAUDE, { command: tools, extra: { stallTimeout: '1s', toolTimeout: '30s' } });
    expect(patient.dispatches.map((d) => d.state)).toEqual(['completed']);
    expect(readFileSync(marker, 'utf8')).toBe('done');

    cleanup();
    ({ dir, cleanup } = tempDir('statecrew-claude-'));
    const strict = await runAgent(CURRENT_CLAUDE, { command: tools, extra: { stallTimeout: '1s', toolTimeout: '1s' } });
    expect(strict.dispatches[0]).toMatchObject({ state: 'failed', outcome: 'stalled' });
    expect(strict.dispatches[0]?.reason).toMatch(/no output for 1\.0s while a tool call ran \(tool timeout\)/);
  });

  describe.each(CLAUDE_VERSIONS)('Claude Code $version', (version) => {
    it('resumes the session for each message sent, and counts each turn\'s own cost once', async () => {
      let release: () => void = () => undefined;
      const messagesQueued = new Promise<void>((resolve) => { release = resolve; });
      api = await startMessagesApiMock(async (request) => {
        // The first turn waits until the test has queued its two messages.
        if (request.assistantMessages === 0 && !request.model.includes('haiku')) await messagesQueued;
        return { kind: 'text', text: `reply to: ${request.latestUserText.slice(0, 40)}`, usage: { input: 1000 * (request.assistantMessages + 1), output: 40 } };
      });
      const { dispatches, events, unit } = await runAgent(version, { command: readmeCommand('--permission-mode', 'acceptEdits'), input: 'first task' }, async (send) => {
        await send('second: add tests');
        await send('third: update the docs');
        release();
      });
      expect(dispatches.map((d) => [d.state, d.attempt, d.messageId !== null])).toEqual([
        ['completed', 1, false],
        ['completed', 1, true],
        ['completed', 1, true],
      ]);
      // Each message's turn resumed the one session, and the API saw the earlier turns again.
      const session = dispatches[0]?.sessionId;
      expect(dispatches.map((d) => [d.sessionId, d.resumeMismatch])).toEqual([[session, false], [session, false], [session, false]]);
      const conversations = (api.requests as MockRequest[]).filter((r) => !r.model.includes('haiku') && r.latestUserText !== 'Warmup').map((r) => [r.assistantMessages, r.latestUserText]);
      expect(conversations).toEqual([[0, 'first task'], [1, 'second: add tests'], [2, 'third: update the docs']]);
      expect(unit).toMatchObject({ state: 'completed', attempts: 1, turns: 3, sessionId: session, resumeMismatches: 0 });

      // What the CLI itself reported at the end of each turn.
      const totals = events.map((turn) => parseResultEvent(turn.find((e) => e.type === 'result')?.body ?? '')?.totalCostUsd ?? NaN);
      const spend = version.costReports === 'session' ? (totals[2] ?? NaN) : totals.reduce((a, b) => a + b, 0);
      expect(unit?.costUsd).toBeCloseTo(spend, 9);
      if (version.costReports === 'session') {
        // Adding up the running totals would count the first turn three times and the second twice.
        expect(totals.reduce((a, b) => a + b, 0)).toBeGreaterThan(spend * 1.5);
      }
      // Money reads as money: no float noise such as 0.036351999999999995.
      expect(String(unit?.costUsd).replace(/^0\./, '').length).toBeLessThanOrEqual(10);
    });
  });
});
