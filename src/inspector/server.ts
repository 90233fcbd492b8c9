import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AnyStateMachine } from 'xstate';
import { openStoreAt } from '../../persistence/openStore.js';
import { redactUrl } from '../../persistence/postgres/pgTarget.js';
import type { Store } from '../../persistence/store.js';
import { ensureError } from '../../core/errors.js';
import { loadInspectorAssets } from './assets.js';
import { BUILT_IN_MACHINES, createChartCache } from './chartCache.js';
import { readActorDetail, readActorList } from './inspectorData.js';
import { readStatus } from '../status.js';
import { storeMetricsRegistry } from '../telemetry/storeMetrics.js';
import { ActionGuard, readBody } from './actionGuard.js';
import { answerAction, answerCommand, type JsonAnswer } from './actionRoutes.js';
import { createFleetRoutes } from './fleetRoutes.js';

/** Options of {@link startInspector}. */
export interface InspectorOptions {
  /**
   * The store to show: a path (the file must exist; opened read-only when `readOnly`) or an
   * open {@link Store}, which the inspector does not close.
   */
  readonly store: string | Store;
  /**
   * Serve without actions: the page shows no buttons and every POST is answered 403, so nothing
   * is ever written to the store. @default false
   */
  readonly readOnly?: boolean;
  /** TCP port on 127.0.0.1. @default 0 (a free port chosen by the system) */
  readonly port?: number;
  /** Access token every request must carry (`?token=` or the cookie the page sets). @default 32 random bytes, base64url */
  readonly token?: string;
  /** Extra machine definitions by recorded machine id, for actors of a host's own machines; the built-in four are always known. */
  readonly machines?: Readonly<Record<string, AnyStateMachine>>;
  /** How often the store is checked for changes pushed to open pages, in ms. @default 250 */
  readonly pollMs?: number;
  /** Called with failures of the store or of a request (the page shows them too). @default none */
  readonly onError?: (error: Error) => void;
}

/** A running inspector. */
export interface Inspector {
  /** The page's address including its access token: `http://127.0.0.1:<port>/?token=<token>`. */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  /** Whether actions are refused ({@link InspectorOptions.readOnly}). */
  readonly readOnly: boolean;
  /** Stops listening, ends live streams and closes the store if the inspector opened it. */
  close(): Promise<void>;
}

/**
 * Serves the visual inspector: a self-contained page (no CDN, no external fonts) listing the
 * store's actors, drawing the selected actor's statechart with its state highlighted, and its
 * journal as a timeline for time travel. Open pages are told of every change (server-sent
 * events, checked every `pollMs`), so they follow a runtime in another process live.
 *
 * Binds to 127.0.0.1 only. Every request needs the access token, in the query (`?token=`) or
 * in the cookie the page sets on its first load; without it the answer is 401.
 *
 * Actions (unless `readOnly`): the page stops a worker, pauses and resumes, cancels a unit and
 * sends a message through `POST /api/actions` — the same store rows as `statecrew stop --worker`,
 * `pause`, `resume`, `cancel` and `send`, so a runtime in any process acts on them — and follows
 * a stop's outcome at `GET /api/commands/:id`. An action needs, beyond the token, the CSRF
 * token of the page it came from (header `x-statecrew-csrf`), an `Origin` header naming this
 * server, and a JSON body ({@link ActionGuard}); otherwise it is answered 403 (or 415/413) and
 * nothing is written.
 * @throws StoreNotFoundError / StoreCorruptError / StoreVersionError when `store` is a path
 *   that is not a readable store of this version.
 */
export async function startInspector(options: InspectorOptions): Promise<Inspector> {
  const ownsStore = typeof options.store === 'string';
  const readOnly = options.readOnly === true;
  const store =
    typeof options.store === 'string' ? openStoreAt(options.store, readOnly ? { readonly: true } : { mustExist: true }) : options.store;
  const token = options.token ?? crypto.randomBytes(32).toString('base64url');
  const assets = loadInspectorAssets();
  const charts = createChartCache({ ...BUILT_IN_MACHINES, ...options.machines });
  // Prometheus text format, read from the store at each scrape (behind the token like every route).
  const metrics = storeMetricsRegistry(store);
  const fleetRoute = createFleetRoutes(store, () => Date.now());
  const streams = new Set<http.ServerResponse>();
  const report = (error: unknown) => options.onError?.(ensureError(error));
  let port = 0;
  const guard = new ActionGuard(() => [`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  const cookieName = () => `statecrew_inspect_${port}`;
  const authorized = (request: http.IncomingMessage, url: URL): boolean => {
    const offered = url.searchParams.get('token') ?? readCookie(request.headers.cookie, cookieName());
    return offered !== undefined && offered !== null && sameToken(offered, token);
  };

  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    setSecurityHeaders(response);
    if (!authorized(request, url)) {
      send(response, 401, 'text/plain; charset=utf-8', '401: this inspector needs its access token: open the URL that `statecrew inspect` printed.\n');
      return;
    }
    const routed = request.method === 'POST' ? act(url) : request.method === 'GET' ? route(url) : methodNotAllowed();
    routed.catch((error: unknown) => {
      report(error);
      if (!response.headersSent) sendJson(response, 500, { error: ensureError(error).message });
      else response.end();
    });

    function methodNotAllowed(): Promise<void> {
      response.setHeader('Allow', 'GET');
      send(response, 405, 'text/plain; charset=utf-8', '405: the inspector answers GET, and POST at /api/actions only\n');
      return Promise.resolve();
    }

    async function act(url: URL): Promise<void> {
      if (url.pathname !== '/api/actions') return methodNotAllowed();
      if (readOnly) return sendJson(response, 403, { error: '403: this inspector is read-only (statecrew inspect --read-only)' });
      const refused = guard.check(request);
      if (refused !== null) return sendJson(response, refused.status, { error: refused.message, reason: refused.reason });
      let body: string;
      try {
        body = await readBody(request);
      } catch (error) {
        return sendJson(response, 413, { error: `413: ${ensureError(error).message}` });
      }
      return answer(await answerAction(store, body));
    }

    function answer(result: JsonAnswer): void {
      sendJson(response, result.status, result.body);
    }

    async function route(url: URL): Promise<void> {
      const pathname = url.pathname;
      if (pathname === '/' || pathname === '/index.html') {
        if (url.searchParams.has('token')) {
          response.setHeader('Set-Cookie', `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`);
        }
        return sendPage();
      }
      if (pathname.startsWith('/api/commands/')) return answer(await answerCommand(store, pathname.slice('/api/commands/'.length)));
      const fleet = await fleetRoute(url);
      if (fleet !== undefined) return answer(fleet);
      if (pathname.startsWith('/assets/')) return sendAsset(pathname.slice('/assets/'.length));
      if (pathname === '/api/actors') return sendJson(response, 200, { store: storeName(options.store), ...(await readActorList(store)) });
      if (pathname === '/api/units') return sendJson(response, 200, { units: (await readStatus(store)).units });
      if (pathname === '/metrics') return send(response, 200, metrics.contentType, await metrics.metrics());
      if (pathname.startsWith('/api/actors/')) {
        const id = decodeURIComponent(pathname.slice('/api/actors/'.length));
        const after = Number(url.searchParams.get('after') ?? '0');
        const detail = await readActorDetail(store, id, Number.isInteger(after) && after > 0 ? after : 0);
        if (detail === undefined) return sendJson(response, 404, { error: `no actor ${id} in the store` });
        return sendJson(response, 200, detail);
      }
      if (pathname.startsWith('/api/charts/') && pathname.endsWith('.svg')) {
        const machineId = decodeURIComponent(pathname.slice('/api/charts/'.length, -'.svg'.length));
        const svg = await charts.svg(machineId);
        if (svg === undefined) return sendJson(response, 404, { error: `no statechart known for machine ${machineId}` });
        return send(response, 200, 'image/svg+xml; charset=utf-8', svg);
      }
      if (pathname === '/api/events') return openStream();
      return send(response, 404, 'text/plain; charset=utf-8', `404: ${pathname}\n`);
    }

    /** The page, with its own CSRF token and whether actions are offered. */
    function sendPage(): void {
      const asset = assets.get('index.html');
      if (asset === undefined) return send(response, 404, 'text/plain; charset=utf-8', '404: index.html\n');
      const html = asset.body
        .toString('utf8')
        .replace('__STATECREW_CSRF__', readOnly ? '' : guard.issue())
        .replace('__STATECREW_MODE__', readOnly ? 'read-only' : 'actions');
      send(response, 200, asset.type, html);
    }

    function sendAsset(name: string): void {
      const asset = assets.get(name);
      if (asset === undefined) return send(response, 404, 'text/plain; charset=utf-8', `404: ${name}\n`);
      send(response, 200, asset.type, asset.body);
    }

    function openStream(): void {
      response.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive' });
      response.write(`event: change\ndata: ${JSON.stringify({ version: lastVersion })}\n\n`);
      streams.add(response);
      request.on('close', () => streams.delete(response));
    }
  });

  // One watcher for all pages: a cheap query per tick, a push only when something committed.
  let lastVersion = await store.changeCounter();
  let ticks = 0;
  let checking = false;
  const check = async (): Promise<string> => {
    const version = await store.changeCounter();
    if (version !== lastVersion) {
      lastVersion = version;
      return `event: change\ndata: ${JSON.stringify({ version })}\n\n`;
    }
    // A comment every ~15 s keeps proxies and the browser from timing the stream out.
    return ticks % Math.ceil(15_000 / (options.pollMs ?? 250)) === 0 ? ': keep-alive\n\n' : '';
  };
  const push = (): void => {
    if (streams.size === 0 || checking) return;
    checking = true;
    void check()
      .catch((error: unknown) => {
        report(error);
        return `event: store-error\ndata: ${JSON.stringify({ error: ensureError(error).message })}\n\n`;
      })
      .then((message) => {
        if (message !== '') for (const stream of streams) stream.write(message);
      })
      .finally(() => {
        checking = false;
      });
  };
  const watcher = setInterval(() => {
    ticks++;
    push();
  }, options.pollMs ?? 250);
  watcher.unref();
  // A store with notifications (PostgreSQL) pushes another connection's commit at once; the poll stays as the fallback.
  const unwatch = store.watchChanges?.(push);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  // The first page should not wait for the plan graph's layout: start it now, in the background.
  fleetRoute.warm().catch(report);

  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    readOnly,
    close: async () => {
      clearInterval(watcher);
      unwatch?.();
      for (const stream of streams) stream.end();
      streams.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      if (ownsStore) await store.close();
    },
  };
}

function setSecurityHeaders(response: http.ServerResponse): void {
  // Everything comes from this server: the policy itself keeps the page offline-safe.
  response.setHeader(
    'Content-Security-Policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
  );
  response.setHeader('X-Content-Type-Options', 'nosniff');
  response.setHeader('Referrer-Policy', 'no-referrer');
  response.setHeader('Cache-Control', 'no-store');
}

function send(response: http.ServerResponse, status: number, type: string, body: string | Buffer): void {
  response.writeHead(status, { 'Content-Type': type });
  response.end(body);
}

function sendJson(response: http.ServerResponse, status: number, value: unknown): void {
  send(response, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

function sameToken(offered: string, token: string): boolean {
  const a = Buffer.from(offered);
  const b = Buffer.from(token);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

function readCookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

/** The store as shown on the page: its location, a URL without its password (`redactUrl`), or `embedded store`. */
function storeName(store: string | Store): string {
  return typeof store === 'string' ? redactUrl(store) : 'embedded store';
}
