import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toConversation, type EventLine } from '../src/inspector/conversation.js';
import { fixture } from './helpers/cli.js';

/** The inspector's conversation view of recorded transcripts of the real CLIs (test/fixtures/recorded). */

function linesOf(file: string): EventLine[] {
  return fs
    .readFileSync(fixture(`recorded/${file}`), 'utf8')
    .split('\n')
    .filter((text) => text !== '')
    .map((text, index) => ({ line: index + 1, event: JSON.parse(text) as unknown }));
}

describe('toConversation', () => {
  it('shows a Claude Code turn as the session, the tool it used with its input, the tool result and the final result with cost and tokens', () => {
    const items = toConversation(linesOf('claude-2.1.332-write-denied.jsonl'));
    expect(items.map((item) => item.kind)).toEqual(['session', 'tool-use', 'other', 'tool-result', 'assistant', 'result']);
    expect(items[1]).toMatchObject({ kind: 'tool-use', name: 'Write', input: { file_path: '/tmp/explore/w/hello.txt' } });
    expect(items[3]).toMatchObject({ kind: 'tool-result', isError: true, text: expect.stringMatching(/requested permissions to write/) as unknown });
    expect(items.at(-1)).toMatchObject({ kind: 'result', isError: false, costUsd: 0.009600000000000001, inputTokens: 2000, outputTokens: 80 });
  });

  it('shows a Codex turn as its thread, each command with its output and exit code, and the agent message', () => {
    const items = toConversation(linesOf('codex-0.171.0-command.jsonl'));
    expect(items.map((item) => item.kind)).toEqual(['session', 'error', 'tool-use', 'tool-result', 'assistant', 'result']);
    expect(items[2]).toMatchObject({ kind: 'tool-use', name: 'command', input: { command: "/bin/bash -lc 'sleep 4; echo slept'" } });
    expect(items[3]).toMatchObject({ kind: 'tool-result', isError: false, text: 'slept\n\n(exit code 0)' });
    expect(items.at(-1)).toMatchObject({ kind: 'result', inputTokens: 2000, outputTokens: 100, costUsd: null });
  });

  it('shows a command still running (started, not completed) as a tool use without a result, and never throws on odd lines', () => {
    const started = { type: 'item.started', item: { id: 'i1', type: 'command_execution', command: 'make', aggregated_output: '', exit_code: null, status: 'in_progress' } };
    expect(toConversation([{ line: 1, event: started }])).toEqual([{ kind: 'tool-use', line: 1, id: 'i1', name: 'command', input: { command: 'make' } }]);
    expect(toConversation([{ line: 1, event: 'not json {' }, { line: 2, event: { type: 'mystery' } }, { line: 3, event: [1] }])).toEqual([
      { kind: 'other', line: 1, type: '(not an event)', text: 'not json {' },
      { kind: 'other', line: 2, type: 'mystery', text: '' },
      { kind: 'other', line: 3, type: '(not an event)', text: '[1]' },
    ]);
  });
});
