import pg from 'pg';
import {
  ConcurrentWriteError, DispatchConflictError, OwnershipLostError, StaleFencingTokenError, StatecrewError,
  StoreConnectionError, StoreFailedError, StoreUnavailableError,
} from '../../core/errors.js';
import type { PgTarget } from './pgTarget.js';

/**
 * SQLSTATEs raised by statecrew's own functions (`commit_job`, pgMigrations.ts) for the typed
 * refusals; their DETAIL is a JSON object with the fields of the error.
 * @internal
 */
export const REFUSAL = {
  dispatchConflict: 'SC001',
  ownershipLost: 'SC002',
  staleToken: 'SC003',
  concurrentWrite: 'SC004',
} as const;

/** SQLSTATEs after which the same call may succeed when tried again: the connection or server went away, or the transaction lost a race. */
const TRANSIENT_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available
  '53300', // too_many_connections
  '57P01', // admin_shutdown (pg_terminate_backend, a server restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (the server is starting)
  '57014', // query_canceled (statement_timeout)
]);

/** Node's error codes for a network path that failed; the call may succeed once it is back. */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * node-postgres reports a connection that ended under a query, and a query past the store's
 * `query_timeout`, with a plain Error and one of these messages (pg's own texts; it gives them
 * no code).
 */
const PG_CONNECTION_LOST = /^(Connection terminated|Client has encountered a connection error|Connection terminated unexpectedly|timeout exceeded when trying to connect|Client was closed|Query read timeout)/;

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function refusal(error: pg.DatabaseError): StatecrewError | null {
  let detail: Record<string, unknown>;
  try {
    detail = JSON.parse(error.detail ?? '{}') as Record<string, unknown>;
  } catch {
    return null;
  }
  const text = (key: string): string => {
    const value = detail[key];
    return typeof value === 'string' ? value : JSON.stringify(value ?? '');
  };
  const count = (key: string): number | null => (detail[key] === null || detail[key] === undefined ? null : Number(detail[key]));
  switch (error.code) {
    case REFUSAL.dispatchConflict:
      return new DispatchConflictError(text('unitId'), { cause: error });
    case REFUSAL.ownershipLost:
      return new OwnershipLostError(text('actorId'), text('owner'), detail.current === null ? null : text('current'));
    case REFUSAL.staleToken:
      return new StaleFencingTokenError(text('milestoneId'), count('token') ?? 0, count('current'));
    case REFUSAL.concurrentWrite:
      return new ConcurrentWriteError(text('actorId'), count('seq') ?? 0, count('found'));
    default:
      return null;
  }
}

/** True when `error` says the connection or server is gone or busy for now (see {@link classifyPgError}). */
export function isTransientPgError(error: unknown): boolean {
  const code = codeOf(error);
  if (code !== undefined && (TRANSIENT_STATES.has(code) || code.startsWith('08') || NETWORK_CODES.has(code))) return true;
  return error instanceof Error && !(error instanceof pg.DatabaseError) && PG_CONNECTION_LOST.test(error.message);
}

/**
 * Maps what a `pg` call threw to the store's typed errors, by SQLSTATE (and Node's network error
 * codes): statecrew's refusals (SC001–SC004) to their errors; a lost connection, a server
 * restart, a deadlock or serialization failure to {@link StoreUnavailableError} (retry: the
 * transaction was rolled back); anything else — disk full, I/O error, a corrupt page, a
 * permission revoked — to {@link StoreFailedError} (stop).
 * @internal
 */
export function classifyPgError(operation: string, error: unknown, target: PgTarget): StatecrewError {
  if (error instanceof StatecrewError) return error;
  if (error instanceof pg.DatabaseError) {
    const typed = refusal(error);
    if (typed !== null) return typed;
  }
  if (isTransientPgError(error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new StoreUnavailableError(`store ${operation}: PostgreSQL at ${target.host}:${target.port} is unavailable for now (${codeOf(error) ?? 'connection lost'}: ${reason})`, {
      cause: error,
      retryAfterMs: 250,
    });
  }
  return new StoreFailedError(operation, { cause: error });
}

/**
 * What went wrong when a store was being opened, for people: names host, port, database and the
 * cause (never the password).
 * @internal
 */
export function connectionError(error: unknown, target: PgTarget): StatecrewError {
  if (error instanceof StatecrewError) return error;
  const where = `PostgreSQL at ${target.host}:${target.port}, database ${target.database}`;
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  const reasons: Record<string, string> = {
    '28P01': `password authentication failed for user ${target.user || '(none)'}`,
    '28000': `user ${target.user || '(none)'} may not connect (pg_hba.conf or a wrong user)`,
    '3D000': `database ${target.database} does not exist`,
    '42501': `the role ${target.user || '(none)'} lacks a permission statecrew needs (${message}); grant CREATE on the database, or create schema ${target.schema} for it`,
    ECONNREFUSED: 'connection refused: no server is listening there',
    ENOTFOUND: `host ${target.host} not found`,
    EAI_AGAIN: `host ${target.host} could not be resolved now`,
    ETIMEDOUT: 'the connection timed out',
    EHOSTUNREACH: 'the host is unreachable',
    ENETUNREACH: 'the network is unreachable',
  };
  const reason = code === undefined ? undefined : reasons[code];
  return new StoreConnectionError(`cannot open the store: ${where}: ${reason ?? message}`, { cause: error });
}
