import { ensureError } from '../core/errors.js';
import { KEEPALIVE_KILL_CAP_MS, KEEPALIVE_POLL_MS, writeKeepAlive } from './turnKeepAlive.js';

/** What a {@link TurnKeepAlive} needs. */
export interface KeepAliveOptions {
  /** How long one renewal lets a turn run, in ms of the wall clock. */
  readonly graceMs: number;
  /** How often the held files are renewed, in ms (a real timer: the shims read the wall clock). */
  readonly renewEveryMs: number;
  /**
   * Whether the runtime may still vouch for its turns; checked before every renewal. The
   * runtime answers true while its last recorded heartbeat is recent, so that a runtime cut off
   * from its store (which other hosts will soon declare dead) lets its turns lapse.
   */
  readonly mayRenew: () => boolean;
  /** A renewal that failed (the file could not be written): reported, the others still renewed. */
  readonly onError: (path: string, error: Error) => void;
}

/**
 * The keep-alive files of the turns a runtime watches (`actors/turnKeepAlive.ts`): each one held
 * is pushed to now + `graceMs` at once and then every `renewEveryMs` while `mayRenew()`, until
 * released. A turn whose runtime dies is thus killed by its shim at most
 * {@link TurnKeepAlive.boundMs} after the runtime's last renewal, unless another runtime on
 * the same host adopts it and holds its file.
 */
export class TurnKeepAlive {
  private readonly held = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: KeepAliveOptions) {
    if (!(options.graceMs > 0) || !(options.renewEveryMs > 0)) {
      throw new RangeError(`keep-alive graceMs and renewEveryMs must be positive ms, got ${options.graceMs} and ${options.renewEveryMs}`);
    }
  }

  /** Grace of one renewal, in ms. */
  get graceMs(): number {
    return this.options.graceMs;
  }

  /**
   * The SIGTERM-to-SIGKILL grace the shim uses when the keep-alive lapses, in ms: the turn's own
   * `killGraceMs`, at most {@link KEEPALIVE_KILL_CAP_MS} and half the keep-alive grace.
   */
  lapseKillGraceMs(killGraceMs: number): number {
    return Math.min(killGraceMs, this.killCapMs());
  }

  /**
   * Longest time, in ms, a turn runs after its keep-alive was last renewed: the grace, the
   * shim's poll, the capped kill grace, and the shim's drain of the command's pipes (1 s).
   */
  boundMs(): number {
    return this.options.graceMs + KEEPALIVE_POLL_MS + this.killCapMs() + 1_000;
  }

  private killCapMs(): number {
    return Math.min(KEEPALIVE_KILL_CAP_MS, this.options.graceMs / 2);
  }

  /**
   * Resolves once the runtime may vouch for a turn (`mayRenew()`), at once or at one of the
   * next renewal ticks; call it right before starting a turn. Rejects with `signal`'s reason
   * once it is aborted (the worker was detached: its runtime was fenced or stopped).
   */
  vouched(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (signal.aborted) {
          reject(ensureError(signal.reason));
          return;
        }
        if (this.options.mayRenew()) resolve();
        else setTimeout(check, this.options.renewEveryMs).unref();
      };
      check();
    });
  }

  /**
   * Holds `path` until the returned function is called, which stops renewing it: creates it
   * valid for one grace from now, or already lapsed when the runtime may not vouch for a turn
   * now (call {@link TurnKeepAlive.vouched} before starting one). The file stays when released:
   * another runtime may hold it too (one that adopted the turn), and a turn whose file vanished
   * would be killed.
   * @throws the file-system error when the file cannot be written: the turn must not start.
   */
  hold(path: string): () => void {
    writeKeepAlive(path, Date.now() + (this.options.mayRenew() ? this.options.graceMs : 0));
    this.held.add(path);
    this.timer ??= setInterval(() => this.renew(), this.options.renewEveryMs).unref();
    return () => {
      this.held.delete(path);
      if (this.held.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /** Stops renewing (the runtime ended); the files stay until their turns' shims act on them. */
  stop(): void {
    this.held.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private renew(): void {
    if (!this.options.mayRenew()) return;
    const validUntil = Date.now() + this.options.graceMs;
    for (const path of this.held) {
      try {
        writeKeepAlive(path, validUntil);
      } catch (error) {
        this.options.onError(path, ensureError(error));
      }
    }
  }
}
