import pg from 'pg';

/** Delay before listening again after the listening connection was lost, ms: doubles from 100 up to 5 s. */
const RECONNECT_MS = { first: 100, max: 5_000 } as const;

/**
 * Counts other connections' commits to a PostgreSQL store, from the notifications its tables'
 * triggers send at commit (pgSchema.ts `notify_change`): one dedicated connection LISTENs on
 * `<schema>_changes`, and every notification whose payload is not `sender` moves
 * {@link ChangeListener.external}. While it is not listening (not yet, or its connection was
 * lost and it reconnects with backoff) nothing can be known, so every read of the counter
 * moves it: callers then re-read everything, never act on a stale "nothing changed".
 * @internal
 */
export class ChangeListener {
  private count = 0;
  private readonly watchers = new Set<() => void>();
  private client: pg.Client | pg.PoolClient | null = null;
  private listening = false;
  private stopped = false;
  private retryMs: number = RECONNECT_MS.first;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** The last error of the listening connection, for diagnostics. */
  lastError: Error | null = null;

  /**
   * @param connect opens the listening connection (a new client, or one taken from the host's pool).
   * @param channel `<schema>_changes`.
   * @param sender this store's `statecrew.sender`; its own notifications are not counted.
   */
  constructor(
    private readonly connect: () => Promise<pg.Client | pg.PoolClient>,
    private readonly channel: string,
    private readonly sender: string,
  ) {}

  /** Calls `watcher` on every notification of another connection's commit, until the returned function is called. */
  watch(watcher: () => void): () => void {
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** Other connections' commits seen so far (moved on every read while not listening). */
  get external(): number {
    if (!this.listening) this.count++;
    return this.count;
  }

  /**
   * Resolves once every notification of a commit made before this call was counted: a round
   * trip on the listening connection, after which the server has delivered what was pending
   * (it sends queued notifications before it reports the query done). Nothing when not listening.
   */
  async sync(): Promise<void> {
    const client = this.client;
    if (client === null || !this.listening) return;
    await client.query('SELECT 1');
  }

  /** Starts listening; resolves once LISTEN is in place. @throws what connecting threw (the store is not usable then). */
  async start(): Promise<void> {
    const client = await this.connect();
    client.on('notification', (message) => {
      if (message.channel !== this.channel || message.payload === this.sender) return;
      this.count++;
      for (const watcher of this.watchers) {
        try {
          watcher();
        } catch (error) {
          // Thrown inside node-postgres's event: kept for diagnostics, never thrown into the client.
          this.lastError = error instanceof Error ? error : new Error(String(error));
        }
      }
    });
    const lost = (error?: Error): void => {
      if (this.client !== client) return;
      this.client = null;
      this.listening = false;
      if (error !== undefined) this.lastError = error;
      this.release(client, error ?? new Error('listening connection ended'));
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    await client.query(`LISTEN "${this.channel}"`);
    this.client = client;
    this.listening = true;
    this.retryMs = RECONNECT_MS.first;
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.start().catch((error: unknown) => {
        this.lastError = error instanceof Error ? error : new Error(String(error));
        this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MS.max);
        this.scheduleReconnect();
      });
    }, this.retryMs);
    this.timer.unref();
  }

  private release(client: pg.Client | pg.PoolClient, error?: Error): void {
    if ('release' in client) client.release(error ?? true);
    else void client.end().catch((endError: unknown) => {
      this.lastError = endError instanceof Error ? endError : new Error(String(endError));
    });
  }

  /** Stops listening and closes its connection. Idempotent. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = null;
    this.listening = false;
    if (client === null) return;
    if ('release' in client) client.release(true);
    else await client.end();
  }
}
