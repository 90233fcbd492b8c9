/**
 * A small HTTP server embedding statecrew: it accepts units over HTTP and streams the
 * runtime's events as server-sent events. Run it with `npm run example:http` (port 8787, or
 * PORT), then:
 *
 *   curl -X POST localhost:8787/units -H 'content-type: application/json' \
 *     -d '{"milestones":[{"id":"docs","units":[{"id":"hello","command":["node","-e","console.log(1)"]}]}]}'
 *   curl -N localhost:8787/events          # unit.started, unit.completed, … as they happen
 *   curl localhost:8787/actors?kind=dispatch
 *   curl localhost:8787/actors/hello%231   # one actor: state, context, snapshot
 *
 * Routes: POST /units (a plan addition: milestones in the plan file's shape) → 202 with the
 * unit ids added, or 400 with the plan's issues; GET /events (text/event-stream); GET
 * /actors[?kind=&state=]; GET /actors/:id; GET /progress; POST /stop (drains, answers the run's
 * result). Units submitted survive a restart of the server: they are in the store's plan.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createRuntime, PlanError, type ActorKind, type PlanAddition, type Runtime, type RuntimeEvents } from 'statecrew';

/** Options of {@link startEmbedServer}. */
export interface EmbedServerOptions {
  /** SQLite store file. */
  readonly store: string;
  /** TCP port on 127.0.0.1. @default 0 (any free port) */
  readonly port?: number;
  /** Size of the worker pool. @default 2 */
  readonly workers?: number;
  /** Folder units' `cwd` resolve against. @default process.cwd() */
  readonly cwd?: string;
}

/** A running server and the runtime it embeds. */
export interface EmbedServer {
  readonly url: string;
  readonly runtime: Runtime;
  /** Drains the runtime (kill-verify-record), closes the store, stops listening. */
  close(): Promise<void>;
}

/** Largest request body accepted, in bytes. */
const MAX_BODY_BYTES = 1 << 20;

export async function startEmbedServer(options: EmbedServerOptions): Promise<EmbedServer> {
  const runtime = createRuntime({ store: options.store, keepAlive: true, workers: options.workers ?? 2, ...(options.cwd === undefined ? {} : { cwd: options.cwd }) });
  await runtime.start();
  const streams = new Set<http.ServerResponse>();

  // Every runtime event goes to every open /events stream, one SSE message each.
  runtime.events.on('*', (type, event) => {
    const message = `event: ${type}\ndata: ${JSON.stringify(event, (_key, value: unknown) => (value instanceof Error ? value.message : value))}\n\n`;
    for (const stream of streams) stream.write(message);
  });

  const server = http.createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) json(response, 500, { error: error instanceof Error ? error.message : String(error) });
      else response.end();
    });
  });

  async function handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const route = `${request.method ?? 'GET'} ${url.pathname}`;
    if (route === 'POST /units') {
      let addition: unknown;
      try {
        addition = JSON.parse(await readBody(request));
      } catch (error) {
        return json(response, 400, { error: `the body must be JSON: ${(error as Error).message}` });
      }
      try {
        return json(response, 202, { added: await runtime.submit(addition as PlanAddition) });
      } catch (error) {
        if (error instanceof PlanError) return json(response, 400, { error: 'invalid units', issues: error.issues });
        throw error;
      }
    }
    if (route === 'GET /events') {
      response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
      response.write(': statecrew events\n\n');
      streams.add(response);
      request.on('close', () => streams.delete(response));
      return;
    }
    if (route === 'GET /actors') {
      const kind = url.searchParams.get('kind') ?? undefined;
      const state = url.searchParams.get('state') ?? undefined;
      return json(response, 200, await runtime.list({ ...(kind === undefined ? {} : { kind: kind as ActorKind }), ...(state === undefined ? {} : { state }) }));
    }
    if (request.method === 'GET' && url.pathname.startsWith('/actors/')) {
      const actor = await runtime.get(decodeURIComponent(url.pathname.slice('/actors/'.length)));
      return actor === undefined ? json(response, 404, { error: 'no such actor' }) : json(response, 200, actor);
    }
    if (route === 'GET /progress') {
      const progress = await runtime.progress();
      return json(response, 200, {
        milestones: progress.milestones.map((milestone) => ({ id: milestone.spec.id, state: milestone.state })),
        units: [...progress.units.values()].map((unit) => ({ id: unit.spec.id, state: unit.state, attempts: unit.attempts })),
      });
    }
    if (route === 'POST /stop') {
      const result = await runtime.stop('stopped over HTTP', 0);
      return json(response, 200, { exitCode: result.exitCode, reason: result.reason });
    }
    json(response, 404, { error: `no route ${route}` });
  }

  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    runtime,
    close: async () => {
      await runtime.stop('server closing', 0);
      for (const stream of streams) stream.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await runtime.store.close();
    },
  };
}

function readBody(request: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`body over ${MAX_BODY_BYTES} bytes`));
        request.destroy();
      } else chunks.push(chunk);
    });
    request.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    request.on('error', reject);
  });
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

/** The events this example forwards, for typed consumers of the stream. */
export type StreamedEvent = { [K in keyof RuntimeEvents]: { type: K; data: RuntimeEvents[K] } }[keyof RuntimeEvents];

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = await startEmbedServer({ store: process.env.STATECREW_STORE ?? '.statecrew/embed-http.db', port: Number(process.env.PORT ?? 8787) });
  console.log(`statecrew embed-http listening on ${server.url} (POST /units, GET /events, GET /actors, POST /stop)`);
  const shutdown = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
