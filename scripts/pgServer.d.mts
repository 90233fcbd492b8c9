/** A throwaway PostgreSQL server (scripts/pgServer.mjs). */
export interface PgServer {
  /** postgres://postgres:<password>@127.0.0.1:<port>/statecrew */
  readonly url: string;
  readonly port: number;
  readonly password: string;
  readonly dataDir: string;
  readonly binDir: string;
  /** Fast shutdown, then removes the server's folder. */
  stop(): Promise<void>;
  /** Fast shutdown, then starts again on the same port and data. */
  restart(): Promise<void>;
  /** Runs SQL as the superuser in database `statecrew`; returns psql's unaligned output. */
  psql(sql: string): string;
}

/** The folder holding initdb, postgres and psql. @throws Error naming what to install when there is none. */
export function pgBinDir(): string;

/** Starts a fresh server on a free loopback port. @throws Error with the server's log when it does not start. */
export function startPgServer(options?: { settings?: Record<string, string> }): Promise<PgServer>;
