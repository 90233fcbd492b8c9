import { spawn } from 'node:child_process';
import { z } from 'zod';
import { ensureError } from '../../core/errors.js';
import type { StoredSink } from './notificationRows.js';

/** How one delivery attempt ended: `delivered`, or failed and whether trying again may help. */
export type DeliveryResult = { readonly delivered: true } | { readonly delivered: false; readonly error: string; readonly retry: boolean };

/** The `User-Agent` of webhook deliveries. */
export const USER_AGENT = 'statecrew-notify/1';

const storedSink = z.object({
  webhook: z.string().optional(),
  command: z.array(z.string()).min(1).optional(),
  timeoutMs: z.number().int().positive(),
  maxAttempts: z.number().int().positive(),
});

/** Reads a notification's stored sink. @returns `undefined` when the row's sink is not one (it is then given up on). */
export function parseSink(text: string): StoredSink | undefined {
  try {
    const parsed = storedSink.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    // Not JSON: the caller gives the notification up, naming the row.
    return undefined;
  }
}

/** HTTP statuses worth another attempt: timeouts, rate limits, server errors (RFC 9110 §15.5-15.6). */
const RETRIED_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/**
 * Delivers a notification to its webhook: `POST` of the body (`application/json`) with the
 * headers `Idempotency-Key` (the notification's key: a receiver drops a repeat by it, as in the
 * IETF httpapi Idempotency-Key draft), `X-Statecrew-Event`, `X-Statecrew-Delivery-Attempt` and
 * `User-Agent`. A 2xx answer is delivered; 408, 425, 429 and 5xx, a network error or a timeout
 * are tried again; any other answer gives the notification up (the receiver refused it).
 */
export async function deliverWebhook(url: string, request: { key: string; event: string; body: string; attempt: number; timeoutMs: number }): Promise<DeliveryResult> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Idempotency-Key': request.key,
        'X-Statecrew-Event': request.event,
        'X-Statecrew-Delivery-Attempt': String(request.attempt),
        'User-Agent': USER_AGENT,
      },
      body: request.body,
      signal: AbortSignal.timeout(request.timeoutMs),
      redirect: 'error',
    });
  } catch (error) {
    const cause = ensureError(error);
    const reason = cause.name === 'TimeoutError' ? `no answer within ${request.timeoutMs} ms` : `${cause.message}${cause.cause instanceof Error ? `: ${cause.cause.message}` : ''}`;
    return { delivered: false, error: `POST ${url}: ${reason}`, retry: true };
  }
  // The answer's body is not needed: read it so that the connection is released.
  const text = (await response.text().catch(() => '')).slice(0, 200);
  if (response.ok) return { delivered: true };
  return { delivered: false, error: `POST ${url}: HTTP ${response.status}${text === '' ? '' : `: ${text}`}`, retry: RETRIED_STATUS.has(response.status) };
}

/**
 * Delivers a notification to its command: runs argv (no shell) with the body on stdin and
 * `STATECREW_NOTIFICATION_KEY` / `STATECREW_NOTIFICATION_EVENT` in its environment. Exit code 0
 * is delivered; another exit, a signal or the timeout (the command is then killed) is tried
 * again; a command that cannot be started (ENOENT, EACCES) gives the notification up.
 */
export function deliverCommand(argv: readonly string[], request: { key: string; event: string; body: string; timeoutMs: number }): Promise<DeliveryResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.resolve({ delivered: false, error: 'empty command', retry: false });
  return new Promise((resolve) => {
    const child = spawn(file, args, {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, STATECREW_NOTIFICATION_KEY: request.key, STATECREW_NOTIFICATION_EVENT: request.event },
    });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, request.timeoutMs);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-500);
    });
    // A command that exits without reading its stdin closes the pipe: not a delivery failure by itself.
    child.stdin.on('error', () => undefined);
    child.stdin.end(request.body);
    child.once('error', (error) => {
      clearTimeout(timer);
      resolve({ delivered: false, error: `${argv.join(' ')}: ${error.message}`, retry: false });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ delivered: true });
      const last = stderr.trim().split('\n').at(-1) ?? '';
      const how = timedOut ? `no exit within ${request.timeoutMs} ms (killed)` : code === null ? `killed by ${signal ?? 'a signal'}` : `exit code ${code}`;
      resolve({ delivered: false, error: `${argv.join(' ')}: ${how}${last === '' ? '' : `: ${last}`}`, retry: true });
    });
  });
}
