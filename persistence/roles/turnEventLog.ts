import type { TurnEventRecord, TurnOutputChunk } from '../types.js';

/**
 * The turn event role: the events of stream-json turns' output, one row per line; and every
 * turn's log, in chunks, so that `statecrew logs` works from any host.
 */
export interface TurnEventLog {
  /** Records the events of a turn's output in one transaction (idempotent per dispatch and line). */
  recordTurnEvents(events: readonly TurnEventRecord[]): Promise<void>;
  /** One dispatch's events, by line. */
  turnEvents(dispatchId: string): Promise<TurnEventRecord[]>;
  /**
   * Appends a chunk of a turn's log (idempotent: a chunk at an offset already stored is left as
   * it is), then drops the dispatch's oldest chunks that end at or before `capBytes` bytes from
   * the end of the newest: the tail is kept. One transaction.
   */
  appendTurnOutput(chunk: TurnOutputChunk, capBytes: number): Promise<void>;
  /** One dispatch's stored log chunks that end after `fromOffset` (bytes; default 0), by offset. */
  readTurnOutput(dispatchId: string, fromOffset?: number): Promise<TurnOutputChunk[]>;
}
