/**
 * A local stand-in for OpenAI's Responses API (`POST /v1/responses`, streamed), enough for the
 * real Codex CLI to run offline through a custom model provider (`-c model_provider=…` with
 * `base_url` pointing here, `wire_api = "responses"`): server-sent events `response.created`,
 * `response.output_item.added` / `.done` and `response.completed` with usage, or an error
 * status with an error body.
 *
 * Source of the wire format: OpenAI, "Streaming API responses" and the Responses API reference
 * (output items `message` with `output_text`, `function_call` with `call_id` and `arguments`;
 * `usage.input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the mock answers to one request. Usage defaults to 1000 input and 50 output tokens. */
export type ResponsesReply =
  | { readonly kind: 'text'; readonly text: string; readonly inputTokens?: number }
  | { readonly kind: 'command'; readonly cmd: string }
  | { readonly kind: 'error'; readonly status: number; readonly message: string };

/** One request as the mock saw it. */
export interface ResponsesRequest {
  readonly n: number;
  /** ms since epoch. */
  readonly at: number;
  /** Texts of the user's `input_text` parts, in order (a resumed thread carries earlier turns'). */
  readonly userTexts: readonly string[];
  /** Outputs of tool calls sent back since the model asked for them. */
  readonly toolOutputs: readonly string[];
}

export interface ResponsesApiMock {
  /** Base URL for the provider's `base_url`, ending in `/v1`. */
  readonly url: string;
  readonly requests: readonly ResponsesRequest[];
  close(): Promise<void>;
}

interface InputItem {
  readonly type?: string;
  readonly role?: string;
  readonly content?: readonly { readonly type?: string; readonly text?: string }[] | string;
  readonly output?: unknown;
}

/** Starts the mock on a free loopback port; `script` decides each reply, at once or later (a test may hold a turn). */
export async function startResponsesApiMock(script: (request: ResponsesRequest) => ResponsesReply | Promise<ResponsesReply>): Promise<ResponsesApiMock> {
  const requests: ResponsesRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !(req.url ?? '').endsWith('/responses')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: `mock: no route ${req.method} ${req.url}`, type: 'invalid_request_error' } }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { input?: readonly InputItem[] };
      const input = body.input ?? [];
      const lastCall = input.map((item) => item.type).lastIndexOf('function_call');
      const request: ResponsesRequest = {
        n: requests.length + 1,
        at: Date.now(),
        userTexts: input
          .filter((item) => item.type === 'message' && item.role === 'user' && Array.isArray(item.content))
          .flatMap((item) => (item.content as readonly { type?: string; text?: string }[]).filter((part) => part.type === 'input_text').map((part) => part.text ?? ''))
          .filter((text) => !text.startsWith('<') && !text.startsWith('#')),
        toolOutputs: lastCall < 0 ? [] : input.slice(lastCall).filter((item) => item.type === 'function_call_output').map((item) => String(item.output)),
      };
      requests.push(request);
      void Promise.resolve()
        .then(() => script(request))
        .catch((error: unknown): ResponsesReply => ({ kind: 'error', status: 500, message: `mock script failed: ${String(error)}` }))
        .then((reply) => answer(res, request, reply));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

function answer(res: http.ServerResponse, request: ResponsesRequest, reply: ResponsesReply): void {
  if (reply.kind === 'error') {
    res.writeHead(reply.status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: reply.message, type: reply.status === 429 ? 'rate_limit_error' : 'server_error' } }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (event: { readonly type: string } & Record<string, unknown>): void => {
    res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  const id = `resp_mock_${request.n}`;
  const item =
    reply.kind === 'text'
      ? { type: 'message', role: 'assistant', id: `msg_mock_${request.n}`, content: [{ type: 'output_text', text: reply.text }] }
      : { type: 'function_call', id: `fc_mock_${request.n}`, call_id: `call_mock_${request.n}`, name: 'exec_command', arguments: JSON.stringify({ cmd: reply.cmd }) };
  const inputTokens = reply.kind === 'text' ? (reply.inputTokens ?? 1000) : 1000;
  send({ type: 'response.created', response: { id } });
  send({ type: 'response.output_item.added', output_index: 0, item });
  send({ type: 'response.output_item.done', output_index: 0, item });
  send({
    type: 'response.completed',
    response: { id, usage: { input_tokens: inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: 50, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inputTokens + 50 } },
  });
  res.end();
}
