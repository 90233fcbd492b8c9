import { ensureError } from '../core/errors.js';

/**
 * Runs scheduler passes one at a time. {@link PassLoop.request} asks for a pass; requests made
 * while one runs are folded into one more pass after it. Each pass starts on a later turn of
 * the event loop (`setImmediate`), so the transitions of one burst are decided on together.
 */
export class PassLoop {
  private requested = false;
  private running = false;

  /**
   * @param pass one pass; it may await store calls.
   * @param onError what a pass that threw or rejected leads to (the runtime's failure path).
   */
  constructor(
    private readonly pass: () => Promise<void>,
    private readonly onError: (error: Error) => void,
  ) {}

  request(): void {
    this.requested = true;
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  private async loop(): Promise<void> {
    try {
      while (this.requested) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        this.requested = false;
        await this.pass();
      }
    } catch (error) {
      this.onError(ensureError(error));
    } finally {
      this.running = false;
    }
  }
}
