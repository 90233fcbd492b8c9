import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One POST the receiver got. */
export interface Received {
  readonly key: string;
  readonly event: string;
  readonly attempt: number;
  readonly body: Record<string, unknown>;
}

/** What the receiver answers to a request: a status, or `hold` (never answer: the sender waits until it times out or dies). */
export type Answer = number | 'hold';

/**
 * A webhook receiver on 127.0.0.1: records every POST (its `Idempotency-Key`, event, attempt
 * and JSON body) and answers as `answer` says; `waitFor` resolves once a matching request came.
 */
export async function startReceiver(answer: (request: Received, index: number) => Answer = () => 200) {
  const received: Received[] = [];
  const held: http.ServerResponse[] = [];
  let waiters: { match: (r: Received) => boolean; resolve: (r: Received) => void }[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const entry: Received = {
        key: String(request.headers['idempotency-key']),
        event: String(request.headers['x-statecrew-event']),
        attempt: Number(request.headers['x-statecrew-delivery-attempt']),
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
      };
      received.push(entry);
      waiters = waiters.filter((waiter) => {
        if (!waiter.match(entry)) return true;
        waiter.resolve(entry);
        return false;
      });
      const reply = answer(entry, received.length - 1);
      if (reply === 'hold') held.push(response);
      else response.writeHead(reply, { 'Content-Type': 'text/plain' }).end(reply < 300 ? 'ok' : 'not now');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    waitFor(match: (r: Received) => boolean): Promise<Received> {
      const found = received.find(match);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    close: async () => {
      for (const response of held) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
