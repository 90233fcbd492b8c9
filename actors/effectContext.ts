import type { TurnAssignment, TurnStarted } from '../machines/turn.js';
import type { Store } from '../persistence/store.js';
import type { Clock } from '../core/clock.js';
import type { TurnKeepAlive } from './keepAlive.js';

/** What the effect implementations need from the runtime that hosts them. */
export interface EffectContext {
  /** The store, every call through the runtime's store policy (transient faults retried). */
  readonly store: Store;
  readonly clock: Clock;
  /** Folder of per-worker and per-turn log files. */
  readonly logsDir: string;
  /** Reads the recorded start of a turn (pid, pgid, start time, status file), if one was recorded. */
  readonly recordedStart: (turn: TurnAssignment) => Promise<TurnStarted | null>;
  /** Resolves when the transitions staged so far are committed (see `afterCommit`). */
  readonly committed: () => Promise<void>;
  /** Starts the commit of the open job now (see `ActorHost.flush`): for the pid of a process just spawned. */
  readonly flush: () => void;
  /** The runtime's keep-alive, held for every turn it runs or adopts (`actors/keepAlive.ts`). */
  readonly turnKeepAlive: TurnKeepAlive;
  /**
   * The supervisor's heartbeat effect reports each heartbeat the store recorded (clock ms it
   * was stamped with) and awaits the result: the runtime reads the store's clock then; a
   * rejection is a failed heartbeat.
   */
  readonly heartbeatRecorded: (at: number) => Promise<void>;
}
