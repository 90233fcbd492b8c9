import { StoreFailedError, StoreUnavailableError } from '../../core/errors.js';
import type { Store } from '../../persistence/store.js';

/** Every method of the Store boundary, checked against the interface: a method added to Store must be added here. */
const METHODS = {
  commitJob: true,
  listActiveActors: true,
  listOwnedActors: true,
  listActors: true,
  getActor: true,
  quarantineActor: true,
  listQuarantined: true,
  journal: true,
  journalSize: true,
  queryJournal: true,
  listWorkers: true,
  listLeases: true,
  listDispatches: true,
  listSupervisors: true,
  listWorkspaces: true,
  claimLease: true,
  renewLease: true,
  releaseLease: true,
  getLease: true,
  listLeaseLedger: true,
  registerRuntime: true,
  heartbeatRuntime: true,
  stopRuntime: true,
  listRuntimes: true,
  takeOverRuntime: true,
  adoptUnownedActors: true,
  enqueueCommand: true,
  listPendingCommands: true,
  getCommand: true,
  takeCommand: true,
  completeCommand: true,
  setControl: true,
  getControl: true,
  cancelUnit: true,
  listCanceledUnits: true,
  enqueueMessage: true,
  listMessages: true,
  enqueueNotifications: true,
  claimNotifications: true,
  recordNotificationAttempt: true,
  listNotifications: true,
  saveTraceContext: true,
  loadTraceContext: true,
  recordTurnEvents: true,
  turnEvents: true,
  appendTurnOutput: true,
  readTurnOutput: true,
  savePlan: true,
  loadPlan: true,
  readSchedulerView: true,
  reserveSequence: true,
  storeId: true,
  readClock: true,
  changeCounter: true,
  externalChangeCounter: true,
  checkIntegrity: true,
  compact: true,
  compactionState: true,
  vacuum: true,
  ready: true,
  close: true,
} as const satisfies { readonly [K in Exclude<keyof Store, 'location' | 'watchChanges'>]: true };

export type StoreMethod = keyof typeof METHODS;
export const STORE_METHODS = Object.keys(METHODS) as StoreMethod[];

/** `transient`: the next call fails once with StoreUnavailableError; `fatal`: every call from then on fails with StoreFailedError. */
export type FaultMode = 'transient' | 'fatal';

/**
 * A Store that passes every call through to `inner`, counts calls per method, and — once
 * {@link FaultInjector.arm}ed — makes `method` fail as `mode` says, the way a real backend's
 * fault would reach the runtime (a rejected promise, or an error while iterating).
 */
export class FaultInjector {
  private armed = false;
  private fired = 0;
  readonly calls = new Map<StoreMethod, { beforeArmed: number; afterArmed: number }>();

  constructor(
    private readonly method: StoreMethod | null,
    private readonly mode: FaultMode,
  ) {}

  /** From now on `method` fails. */
  arm(): void {
    this.armed = true;
  }

  /** How many calls were made to fail. */
  get faults(): number {
    return this.fired;
  }

  wrap(inner: Store): Store {
    const fault = (name: StoreMethod): Error | undefined => {
      const count = this.calls.get(name) ?? { beforeArmed: 0, afterArmed: 0 };
      if (this.armed) count.afterArmed++;
      else count.beforeArmed++;
      this.calls.set(name, count);
      if (!this.armed || name !== this.method) return undefined;
      if (this.mode === 'transient' && this.fired > 0) return undefined;
      this.fired++;
      return this.mode === 'transient'
        ? new StoreUnavailableError(`injected: ${name} is unavailable for now`, { retryAfterMs: 20 })
        : new StoreFailedError(name, { cause: new Error(`injected: ${name} failed for good`) });
    };
    return new Proxy(inner, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key, target);
        if (typeof value !== 'function' || typeof key !== 'string' || !(key in METHODS)) return value;
        const name = key as StoreMethod;
        const method = value as (...args: unknown[]) => unknown;
        if (name === 'queryJournal') {
          return (...args: unknown[]): AsyncIterable<unknown> => {
            const iterable = method.apply(target, args) as AsyncIterable<unknown>;
            return {
              [Symbol.asyncIterator]: () => {
                const error = fault(name);
                if (error !== undefined) return { next: () => Promise.reject(error) };
                return iterable[Symbol.asyncIterator]();
              },
            };
          };
        }
        return (...args: unknown[]): unknown => {
          const error = fault(name);
          if (error !== undefined) return Promise.reject(error);
          return method.apply(target, args);
        };
      },
    });
  }
}
