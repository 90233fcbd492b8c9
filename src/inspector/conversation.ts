/**
 * A turn's agent events (Claude Code `stream-json`, Codex `exec --json`) as a conversation the
 * inspector draws: what the agent said, each tool it used with its input, each tool result, and
 * the final result with cost and tokens. Event shapes: Claude Code's `--output-format
 * stream-json` (`system`/`assistant`/`user`/`result`, Anthropic Messages content blocks) and
 * codex-rs `exec_events.rs` (`thread.started`, `item.*`, `turn.completed`, `turn.failed`).
 */
export type ConversationItem =
  | { readonly kind: 'session'; readonly line: number; readonly text: string }
  | { readonly kind: 'assistant'; readonly line: number; readonly text: string }
  | { readonly kind: 'thinking'; readonly line: number; readonly text: string }
  | { readonly kind: 'tool-use'; readonly line: number; readonly id: string; readonly name: string; readonly input: unknown }
  | { readonly kind: 'tool-result'; readonly line: number; readonly toolUseId: string; readonly text: string; readonly isError: boolean }
  | {
      readonly kind: 'result';
      readonly line: number;
      readonly isError: boolean;
      readonly text: string;
      /** USD, as the CLI reported it (Claude Code: the process's total; Codex reports none). */
      readonly costUsd: number | null;
      readonly inputTokens: number | null;
      readonly outputTokens: number | null;
      /** Wall time the CLI reported for the turn, ms. */
      readonly durationMs: number | null;
    }
  | { readonly kind: 'error'; readonly line: number; readonly text: string }
  /** An event this view does not draw (its type is shown) or a line that is not an event. */
  | { readonly kind: 'other'; readonly line: number; readonly type: string; readonly text: string };

/** One event line of a turn's stdout: its 1-based line number and parsed JSON (or the raw text when it was not JSON). */
export interface EventLine {
  readonly line: number;
  readonly event: unknown;
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown): string => (typeof value === 'string' ? value : value === undefined || value === null ? '' : JSON.stringify(value));
const num = (value: unknown): number | null => (typeof value === 'number' && Number.isFinite(value) ? value : null);

/** Turns event lines into conversation items, in order. Unknown events become `other` items; nothing throws. */
export function toConversation(lines: readonly EventLine[]): ConversationItem[] {
  const items: ConversationItem[] = [];
  const startedTools = new Set<string>();
  for (const { line, event } of lines) {
    if (!isObject(event) || typeof event.type !== 'string') {
      items.push({ kind: 'other', line, type: '(not an event)', text: str(event) });
      continue;
    }
    items.push(...fromClaude(line, event) ?? fromCodex(line, event, startedTools) ?? [{ kind: 'other', line, type: event.type, text: '' }]);
  }
  return items;
}

function fromClaude(line: number, event: Json): ConversationItem[] | undefined {
  switch (event.type) {
    case 'system':
      if (event.subtype !== 'init') return [{ kind: 'other', line, type: `system/${str(event.subtype)}`, text: '' }];
      return [{ kind: 'session', line, text: `session ${str(event.session_id)}${event.model === undefined ? '' : ` · model ${str(event.model)}`}` }];
    case 'assistant':
      return contentOf(event).flatMap((block): ConversationItem[] => {
        if (block.type === 'text') return [{ kind: 'assistant', line, text: str(block.text) }];
        if (block.type === 'thinking') return [{ kind: 'thinking', line, text: str(block.thinking) }];
        if (block.type === 'tool_use') return [{ kind: 'tool-use', line, id: str(block.id), name: str(block.name), input: block.input ?? null }];
        return [];
      });
    case 'user':
      return contentOf(event).flatMap((block): ConversationItem[] =>
        block.type === 'tool_result' ? [{ kind: 'tool-result', line, toolUseId: str(block.tool_use_id), text: resultText(block.content), isError: block.is_error === true }] : [],
      );
    case 'result': {
      const usage = isObject(event.usage) ? event.usage : {};
      return [
        {
          kind: 'result',
          line,
          isError: event.is_error === true,
          text: str(event.result ?? (Array.isArray(event.errors) ? event.errors.join('; ') : event.subtype)),
          costUsd: num(event.total_cost_usd),
          inputTokens: num(usage.input_tokens),
          outputTokens: num(usage.output_tokens),
          durationMs: num(event.duration_ms),
        },
      ];
    }
    default:
      return undefined;
  }
}

function fromCodex(line: number, event: Json, startedTools: Set<string>): ConversationItem[] | undefined {
  switch (event.type) {
    case 'thread.started':
      return [{ kind: 'session', line, text: `thread ${str(event.thread_id)}` }];
    case 'turn.started':
      return [];
    case 'turn.completed': {
      const usage = isObject(event.usage) ? event.usage : {};
      return [{ kind: 'result', line, isError: false, text: 'turn completed', costUsd: null, inputTokens: num(usage.input_tokens), outputTokens: num(usage.output_tokens), durationMs: null }];
    }
    case 'turn.failed':
      return [{ kind: 'result', line, isError: true, text: str(isObject(event.error) ? event.error.message : event.error), costUsd: null, inputTokens: null, outputTokens: null, durationMs: null }];
    case 'error':
      return [{ kind: 'error', line, text: str(event.message) }];
    case 'item.started':
    case 'item.updated':
    case 'item.completed':
      return isObject(event.item) ? fromCodexItem(line, event.type, event.item, startedTools) : [];
    default:
      return undefined;
  }
}

function fromCodexItem(line: number, phase: string, item: Json, startedTools: Set<string>): ConversationItem[] {
  const id = str(item.id);
  const completed = phase === 'item.completed';
  const tool = codexTool(item);
  if (tool !== null) {
    const items: ConversationItem[] = [];
    if (!startedTools.has(id)) {
      startedTools.add(id);
      items.push({ kind: 'tool-use', line, id, name: tool.name, input: tool.input });
    }
    if (completed) items.push({ kind: 'tool-result', line, toolUseId: id, text: tool.output, isError: tool.failed });
    return items;
  }
  if (!completed) return [];
  if (item.type === 'agent_message') return [{ kind: 'assistant', line, text: str(item.text) }];
  if (item.type === 'reasoning') return [{ kind: 'thinking', line, text: str(item.text) }];
  if (item.type === 'error') return [{ kind: 'error', line, text: str(item.message) }];
  return [{ kind: 'other', line, type: `item/${str(item.type)}`, text: '' }];
}

/** A Codex item that is a tool: commands, file changes, MCP tool calls and web searches. */
function codexTool(item: Json): { name: string; input: unknown; output: string; failed: boolean } | null {
  switch (item.type) {
    case 'command_execution':
      return {
        name: 'command',
        input: { command: item.command },
        output: `${str(item.aggregated_output)}${item.exit_code === null || item.exit_code === undefined ? '' : `\n(exit code ${str(item.exit_code)})`}`,
        failed: item.status === 'failed' || (typeof item.exit_code === 'number' && item.exit_code !== 0),
      };
    case 'file_change':
      return { name: 'file_change', input: { changes: item.changes }, output: str(item.status), failed: item.status === 'failed' };
    case 'mcp_tool_call':
      return { name: `${str(item.server)}/${str(item.tool)}`, input: item.arguments ?? null, output: str(item.result ?? item.error ?? item.status), failed: item.status === 'failed' };
    case 'web_search':
      return { name: 'web_search', input: { query: item.query }, output: '', failed: false };
    default:
      return null;
  }
}

function contentOf(event: Json): Json[] {
  const message = isObject(event.message) ? event.message : {};
  return Array.isArray(message.content) ? message.content.filter(isObject) : [];
}

/** A tool result's content: a string, or text blocks joined (other blocks named by type). */
function resultText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return str(content);
  return content.map((block) => (isObject(block) && block.type === 'text' ? str(block.text) : `[${isObject(block) ? str(block.type) : 'content'}]`)).join('\n');
}
