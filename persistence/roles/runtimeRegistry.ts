import type { RuntimeRecord, RuntimeRegistration } from '../types.js';

/**
 * The runtime registry role: every runtime process with its heartbeat, and the
 * compare-and-set takeover of a dead one's actors (single activation). Times in ms since the
 * Unix epoch.
 */
export interface RuntimeRegistry {
  /** Registers a runtime process (`state: running`, first heartbeat at `now`, `ttlMs` ms). */
  registerRuntime(runtime: RuntimeRegistration): Promise<void>;
  /**
   * Records a heartbeat. Resolves `false` when the runtime is no longer `running` in the store
   * — declared dead and taken over — so it must stop driving its actors.
   */
  heartbeatRuntime(id: string, now: number): Promise<boolean>;
  /** Marks a runtime `stopped` (a clean end) if it is still `running`. */
  stopRuntime(id: string, now: number, reason: string): Promise<void>;
  listRuntimes(): Promise<RuntimeRecord[]>;
  /**
   * If `deadId` is still `running` with heartbeat `heartbeatAt`, marks it `dead` and moves its
   * active actors to `takerId`, in one transaction. Resolves the moved actor ids, or `null`
   * when the compare-and-set failed (it beat, or another runtime took over first).
   */
  takeOverRuntime(request: { deadId: string; heartbeatAt: number; takerId: string; now: number; reason: string }): Promise<string[] | null>;
  /**
   * Moves to `takerId` every active actor that no running runtime owns (no owner, or an owner
   * that ended without finishing it). Resolves the moved ids.
   */
  adoptUnownedActors(takerId: string): Promise<string[]>;
}
