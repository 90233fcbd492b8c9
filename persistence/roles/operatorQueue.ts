import type { CommandRecord, MessageRecord } from '../types.js';

/**
 * The operator queue role: what people ask of a fleet from outside its processes — commands
 * (`stop --worker`), durable switches (`paused`, `stop`), unit cancellations and messages to a
 * unit's agent. Times in ms since the Unix epoch.
 */
export interface OperatorQueue {
  /** Queues an operator command; resolves its id. */
  enqueueCommand(command: { kind: CommandRecord['kind']; target: string | null; now: number }): Promise<number>;
  /** Commands not yet done, oldest first. */
  listPendingCommands(): Promise<CommandRecord[]>;
  getCommand(id: number): Promise<CommandRecord | undefined>;
  /** Compare-and-set: `true` when `runtimeId` is the one that takes the command. */
  takeCommand(id: number, runtimeId: string): Promise<boolean>;
  completeCommand(id: number, outcome: 'done' | 'not-found' | 'nothing-running', message: string, now: number): Promise<void>;
  /** Sets (or, with `null`, clears) a durable operator switch such as `paused`. */
  setControl(key: string, value: string | null, now: number): Promise<void>;
  getControl(key: string): Promise<{ value: string; updatedAt: number } | undefined>;
  /** Records that an operator canceled a unit; `false` when it already was. */
  cancelUnit(unitId: string, reason: string, now: number): Promise<boolean>;
  listCanceledUnits(): Promise<{ unitId: string; reason: string; canceledAt: number }[]>;
  /** Queues a message for a unit's next turn; resolves its id. */
  enqueueMessage(unitId: string, text: string, now: number): Promise<number>;
  /** Messages, of one unit or all, in the order they were sent. */
  listMessages(unitId?: string): Promise<MessageRecord[]>;
}
