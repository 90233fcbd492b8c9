import crypto from 'node:crypto';
import type http from 'node:http';

/** Header that carries the page's CSRF token on every action request. */
export const CSRF_HEADER = 'x-statecrew-csrf';

/**
 * Why an action request was refused before it touched the store (HTTP 403 / 415 / 413):
 * `origin` (no `Origin` header, or not this server's), `csrf` (missing or not issued by this
 * server), `content-type` (not `application/json`), `too-large` (body over the limit).
 */
export type GuardRefusal = { readonly status: 403 | 413 | 415; readonly reason: 'origin' | 'csrf' | 'content-type' | 'too-large'; readonly message: string };

/** Largest action body accepted, in bytes (a message to an agent is the largest action). */
export const MAX_ACTION_BYTES = 256 * 1024;

/**
 * The inspector's defence for state-changing requests, on top of the access token every request
 * carries. A page gets its own CSRF token when it is served (a random nonce and its HMAC under a
 * secret that lives only in this process), so no page of another site can forge one; the
 * browser's `Origin` header must be this server's own address, which keeps out pages of other
 * origins and DNS-rebinding hosts even when they guess nothing. Follows OWASP's CSRF prevention
 * cheat sheet: a synchronizer token (HMAC variant) plus origin verification, POST only, and a
 * non-simple content type (`application/json`, which forms cannot send).
 */
export class ActionGuard {
  private readonly secret = crypto.randomBytes(32);

  /** @param origins The origins this server answers on, e.g. `http://127.0.0.1:4000` (read at each check: the port is known only once listening). */
  constructor(private readonly origins: () => readonly string[]) {}

  /** A fresh token for one page: `<nonce>.<HMAC-SHA256(secret, nonce)>`, both base64url. */
  issue(): string {
    const nonce = crypto.randomBytes(16).toString('base64url');
    return `${nonce}.${this.sign(nonce)}`;
  }

  /** `null` when the request may act; otherwise why not. Reads headers only. */
  check(request: http.IncomingMessage): GuardRefusal | null {
    const origin = request.headers.origin;
    if (origin === undefined || !this.origins().includes(origin)) {
      return { status: 403, reason: 'origin', message: `403: actions are accepted only from this inspector's own page (Origin ${origin ?? 'missing'})` };
    }
    const offered = request.headers[CSRF_HEADER];
    if (typeof offered !== 'string' || !this.valid(offered)) {
      return { status: 403, reason: 'csrf', message: `403: the request lacks this page's CSRF token (${CSRF_HEADER}); reload the page` };
    }
    const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') return { status: 415, reason: 'content-type', message: '415: actions are JSON (Content-Type: application/json)' };
    const length = Number(request.headers['content-length'] ?? '0');
    if (length > MAX_ACTION_BYTES) return { status: 413, reason: 'too-large', message: `413: an action is at most ${MAX_ACTION_BYTES} bytes` };
    return null;
  }

  private valid(token: string): boolean {
    const [nonce, mac, ...rest] = token.split('.');
    if (nonce === undefined || mac === undefined || rest.length > 0 || nonce === '') return false;
    const expected = Buffer.from(this.sign(nonce));
    const given = Buffer.from(mac);
    return given.length === expected.length && crypto.timingSafeEqual(given, expected);
  }

  private sign(nonce: string): string {
    return crypto.createHmac('sha256', this.secret).update(nonce).digest('base64url');
  }
}

/**
 * Reads a request body of at most `limit` bytes as UTF-8.
 * @throws RangeError when the body is longer than `limit` (the request is then answered 413).
 */
export async function readBody(request: http.IncomingMessage, limit = MAX_ACTION_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limit) throw new RangeError(`the body is over ${limit} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
