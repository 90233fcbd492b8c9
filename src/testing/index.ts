/**
 * `statecrew/testing` — the test kit for hosts: a temp store, a manual clock, and model-based
 * tests of (provided) statecrew machines run against the runtime's real actor host and a
 * real SQLite file, with an optional crash-and-restore between any two events of a path.
 * Framework-agnostic: failures are thrown as {@link ModelPathError}; wrap the calls in
 * `it(...)` of vitest, jest or `node:test`.
 */
export { createTempStore, type TempStore } from './tempStore.js';
export { createManualClock, type ManualClock } from '../../core/clock.js';
export { createModel, machineCoverage, pathCoverage, missingCoverage, takenEdges, type Coverage, type Model, type ModelPath, type ModelSpec } from './model.js';
export { runModelPath, crashPoints, inertActors, checkCrashRecovery, ModelPathError, type PathRun, type RunModelPathOptions } from './runPath.js';
