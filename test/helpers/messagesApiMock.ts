/**
 * A local stand-in for Anthropic's Messages API (`POST /v1/messages`), enough for the real
 * Claude Code CLI to run offline (`ANTHROPIC_BASE_URL=<url>`): streamed replies as server-sent
 * events (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`,
 * `message_stop`), non-streamed replies as one JSON message, and error replies with their
 * status, error body and headers.
 *
 * Source of the wire format: Anthropic, "Streaming Messages" (event types and their order,
 * `text_delta`, `input_json_delta`) and "Errors" (`{ type: 'error', error: { type, message } }`),
 * https://docs.anthropic.com/en/api/messages-streaming and /en/api/errors.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** Token counts the mock reports for one reply; the CLI prices them by model. */
export interface MockUsage {
  readonly input: number;
  readonly output: number;
}

/** What the mock answers to one request. */
export type MockReply =
  | { readonly kind: 'text'; readonly text: string; readonly usage?: MockUsage }
  | { readonly kind: 'tool_use'; readonly name: string; readonly input: Record<string, unknown>; readonly usage?: MockUsage }
  | { readonly kind: 'error'; readonly status: number; readonly errorType: string; readonly message: string; readonly headers?: Readonly<Record<string, string>> };

/** One request as the mock saw it. */
export interface MockRequest {
  /** 1-based, over the mock's lifetime. */
  readonly n: number;
  /** When the request arrived, ms since epoch. */
  readonly at: number;
  readonly model: string;
  readonly stream: boolean;
  /** Text of the user's prompt: the text blocks of the first user message, joined. */
  readonly prompt: string;
  /** Text of the latest user message that is not only tool results. */
  readonly latestUserText: string;
  /** Tool results sent since the last assistant message (the CLI ran a tool the mock asked for). */
  readonly toolResults: readonly { readonly content: string; readonly isError: boolean }[];
  /** Assistant messages in the conversation so far (a resumed session carries the earlier turns'). */
  readonly assistantMessages: number;
}

export interface MessagesApiMock {
  /** Base URL for `ANTHROPIC_BASE_URL`, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** Every request answered so far, in order. */
  readonly requests: readonly MockRequest[];
  close(): Promise<void>;
}

/** The default usage of a reply: 1000 input and 50 output tokens. */
export const DEFAULT_USAGE: MockUsage = { input: 1000, output: 50 };

/**
 * Starts the mock on a free loopback port. `script` decides each reply, at once or later (a
 * test may hold a turn until it is ready); it may throw or reject, which answers 500 with the
 * error's message (and fails the CLI's turn, so a test sees it).
 */
export async function startMessagesApiMock(script: (request: MockRequest) => MockReply | Promise<MockReply>): Promise<MessagesApiMock> {
  const requests: MockRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !(req.url ?? '').startsWith('/v1/messages')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: `mock: no route ${req.method} ${req.url}` } }));
        return;
      }
      let body: RequestBody;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as RequestBody;
      } catch (error) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: String(error) } }));
        return;
      }
      const request = describe(requests.length + 1, body);
      requests.push(request);
      void Promise.resolve()
        .then(() => script(request))
        .catch((error: unknown): MockReply => ({ kind: 'error', status: 500, errorType: 'api_error', message: `mock script failed: ${String(error)}` }))
        .then((reply) => answer(res, request, reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

interface ContentBlock {
  readonly type: string;
  readonly text?: string;
  readonly content?: unknown;
  readonly is_error?: boolean;
}

interface RequestBody {
  readonly model?: string;
  readonly stream?: boolean;
  readonly messages?: readonly { readonly role: string; readonly content: string | readonly ContentBlock[] }[];
}

function describe(n: number, body: RequestBody): MockRequest {
  const at = Date.now();
  const messages = body.messages ?? [];
  const blocks = (content: string | readonly ContentBlock[]): readonly ContentBlock[] => (typeof content === 'string' ? [{ type: 'text', text: content }] : content);
  const textOf = (content: string | readonly ContentBlock[]): string =>
    blocks(content).filter((block) => block.type === 'text' && !(block.text ?? '').startsWith('<system-reminder>')).map((block) => block.text ?? '').join('\n');
  const users = messages.filter((message) => message.role === 'user');
  const lastAssistant = messages.map((message) => message.role).lastIndexOf('assistant');
  const toolResults = messages
    .slice(lastAssistant + 1)
    .flatMap((message) => blocks(message.content))
    .filter((block) => block.type === 'tool_result')
    .map((block) => ({ content: typeof block.content === 'string' ? block.content : JSON.stringify(block.content), isError: block.is_error === true }));
  const latestUser = users.filter((message) => blocks(message.content).some((block) => block.type === 'text' && textOf([block]) !== '')).at(-1);
  return {
    n,
    at,
    model: body.model ?? 'unknown',
    stream: body.stream === true,
    prompt: users[0] === undefined ? '' : textOf(users[0].content),
    latestUserText: latestUser === undefined ? '' : textOf(latestUser.content),
    toolResults,
    assistantMessages: messages.filter((message) => message.role === 'assistant').length,
  };
}

function answer(res: http.ServerResponse, request: MockRequest, reply: MockReply): void {
  if (reply.kind === 'error') {
    res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
    res.end(JSON.stringify({ type: 'error', error: { type: reply.errorType, message: reply.message } }));
    return;
  }
  const usage = reply.usage ?? DEFAULT_USAGE;
  const id = `msg_mock_${request.n}`;
  const block = reply.kind === 'text' ? { type: 'text', text: reply.text } : { type: 'tool_use', id: `toolu_mock_${request.n}`, name: reply.name, input: reply.input };
  const stopReason = reply.kind === 'text' ? 'end_turn' : 'tool_use';
  const message = { id, type: 'message', role: 'assistant', model: request.model, stop_sequence: null };
  if (!request.stream) {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...message, content: [block], stop_reason: stopReason, usage: { input_tokens: usage.input, output_tokens: usage.output } }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (event: { readonly type: string } & Record<string, unknown>): void => {
    res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  send({ type: 'message_start', message: { ...message, content: [], stop_reason: null, usage: { input_tokens: usage.input, output_tokens: 1 } } });
  if (reply.kind === 'text') {
    send({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    send({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: reply.text } });
  } else {
    send({ type: 'content_block_start', index: 0, content_block: { ...block, input: {} } });
    send({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(reply.input) } });
  }
  send({ type: 'content_block_stop', index: 0 });
  send({ type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: usage.output } });
  send({ type: 'message_stop' });
  res.end();
}
