/**
 * statecrew — a durable actor runtime for fleets of AI coding-agent workers.
 * Named exports only; everything else is internal.
 */
export { createRuntime, type Runtime, type RuntimeOptions, type RunResult, type ActorView, type Logger } from './runtime.js';
export type { RuntimeEvents } from './events.js';
export type { MachineOverrides } from './implementations.js';
export type { SnapshotMigration } from './actorHost.js';
export { loadPlan, parsePlan, planFingerprint } from './plan/load.js';
export { planFromObject, extendPlan, type PlanInput, type PlanAddition, type PlanObjectOptions } from './plan/extend.js';
export type { Plan, MilestoneSpec, UnitSpec, RetentionPolicy } from './plan/types.js';
export { deriveProgress, type Progress, type MilestoneProgress, type UnitProgress, type UnitState, type MilestoneState } from './progress.js';
export { readStatus, type StatusReport } from './status.js';
export { systemClock, createManualClock, type Clock, type ManualClock } from '../core/clock.js';
export {
  StatecrewError,
  PlanError,
  StoreNotFoundError,
  StoreCorruptError,
  StoreVersionError,
  StaleFencingTokenError,
  DispatchConflictError,
  PersistError,
  StoreUnavailableError,
  StoreFailedError,
  ConcurrentWriteError,
  recoveryOf,
  KillNotVerifiedError,
  RuntimeStoppedError,
  OwnershipLostError,
  UsageError,
  type ErrorCode,
  type PlanIssue,
  type Recovery,
} from '../core/errors.js';
export { SqliteStore, type Durability, type SqliteStoreOptions } from '../persistence/sqliteStore.js';
export { openStoreAt, type OpenStoreOptions } from '../persistence/openStore.js';
export type {
  Store,
  ActorCheckpointer,
  LeaseLedger,
  RuntimeRegistry,
  OperatorQueue,
  TurnEventLog,
  PlanRecords,
  SchedulerView,
  SchedulerViewRequest,
  JournalQuery,
  JournalRecord,
} from '../persistence/store.js';
// The shapes the Store's methods take and return (what a backend implements); each adapter keeps its row types private.
export type {
  ActorKind,
  ActorStatus,
  ActorRecord,
  ActorSummary,
  JournalEntry,
  TransitionWrite,
  Projection,
  WorkerProjection,
  LeaseProjection,
  DispatchProjection,
  SupervisorProjection,
  RuntimeRecord,
  LeaseLedgerEntry,
  LeaseClaimResult,
  LeaseRenewResult,
  CommandRecord,
  MessageRecord,
  PlanRecord,
  TurnEventRecord,
} from '../persistence/types.js';
export { workerMachine, WORKER_MACHINE_ID, WORKER_MACHINE_VERSION, type WorkerContext, type WorkerEvent } from '../machines/worker.js';
export { leaseMachine, LEASE_MACHINE_ID, LEASE_MACHINE_VERSION, type LeaseContext, type LeaseEvent } from '../machines/lease.js';
export {
  dispatchMachine,
  DISPATCH_MACHINE_ID,
  DISPATCH_MACHINE_VERSION,
  type DispatchContext,
  type DispatchEvent,
} from '../machines/dispatch.js';
export {
  supervisorMachine,
  SUPERVISOR_MACHINE_ID,
  SUPERVISOR_MACHINE_VERSION,
  type SupervisorContext,
  type SupervisorEvent,
} from '../machines/supervisor.js';
export type { TurnAssignment, TurnResult, TurnStarted } from '../machines/turn.js';
export { startInspector, type Inspector, type InspectorOptions } from './inspector/server.js';
export { chartFromMachine, type Chart, type ChartNode, type ChartEdge, type ChartLabel, type ChartNodeKind } from './chart/model.js';
export { layoutChart, type ChartLayout } from './chart/layout.js';
export { renderChartSvg, type ChartSvgOptions } from './chart/svg.js';
export { renderChartMermaid } from './chart/mermaid.js';
export { collectRuntimeMetrics, type RuntimeMetrics } from './telemetry/prometheusMetrics.js';
export { storeMetricsRegistry, TURN_SECONDS_BUCKETS } from './telemetry/storeMetrics.js';
