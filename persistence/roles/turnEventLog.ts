import type { TurnEventRecord } from '../types.js';

/** The turn event role: the events of stream-json turns' output, one row per line. */
export interface TurnEventLog {
  /** Records the events of a turn's output in one transaction (idempotent per dispatch and line). */
  recordTurnEvents(events: readonly TurnEventRecord[]): Promise<void>;
  /** One dispatch's events, by line. */
  turnEvents(dispatchId: string): Promise<TurnEventRecord[]>;
}
