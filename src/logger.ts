import type { Emitter } from 'mitt';
import type { RuntimeEvents } from './events.js';
import type { Logger } from './runtime.js';

/**
 * Forwards the runtime's events to `logger` as one line each, at the levels documented on
 * {@link Logger}, with the event's fields as structured data. Returns a function that
 * detaches it.
 */
export function attachLogger(events: Emitter<RuntimeEvents>, logger: Logger): () => void {
  const handlers: { [K in keyof RuntimeEvents]?: (event: RuntimeEvents[K]) => void } = {
    'actor.transition': (e) => logger.debug(`${e.actorId} #${e.seq} ${e.from ?? '∅'} → ${e.to} (${e.event})`, e),
    'actor.persist-failed': (e) => logger.error(`write refused for ${e.actorId}: ${e.error.message}`, { actorId: e.actorId, kind: e.kind, error: e.error }),
    'actor.failed': (e) => logger.error(`${e.actorId} failed and was stopped: ${e.error.message}`, { actorId: e.actorId, kind: e.kind, error: e.error }),
    'actor.quarantined': (e) => logger.warn(`quarantined ${e.actorId}: ${e.error.message}`, { actorId: e.actorId, kind: e.kind, error: e.error }),
    'runtime.restored': (e) => logger.info(`restored ${e.count} unfinished actors`, e),
    'runtime.took-over': (e) => logger.info(`took over ${e.actors} actors of ${e.runtimeId}: ${e.reason}`, e),
    'plan.changed': (e) => logger.info(`plan changed: ${e.added.length} units added, ${e.removed.length} removed, ${e.changed.length} changed`, e),
    'retention.compacted': (e) => logger.info(`retention dropped ${e.journalRows} journal rows of ${e.journalActors} finished actors, ${e.turnOutputRows} turn output rows of ${e.turnOutputDispatches} dispatches, ${e.actors} finished actor rows`, e),
    'unit.started': (e) => logger.info(`unit ${e.unitId} attempt ${e.attempt} started on ${e.workerId} (pid ${e.pid})`, e),
    'unit.completed': (e) => logger.info(`unit ${e.unitId} completed`, e),
    'unit.failed': (e) => logger.warn(`unit ${e.unitId} attempt ${e.attempt} failed: ${e.reason}`, e),
    'unit.stuck': (e) => logger.warn(`unit ${e.unitId} is stuck: ${e.reason}`, e),
    'unit.canceled': (e) => logger.warn(`unit ${e.unitId} canceled: ${e.reason}`, e),
    'lease.acquired': (e) => logger.info(`lease on ${e.milestoneId} → ${e.workerId} (fencing token ${e.fencingToken})`, e),
    'lease.lost': (e) => logger.warn(`lease on ${e.milestoneId} ${e.state} (${e.workerId}): ${e.reason ?? 'no reason recorded'}`, e),
    'worker.started': (e) => logger.info(`worker ${e.workerId} started`, e),
    'worker.died': (e) => logger.warn(`worker ${e.workerId} died: ${e.reason}`, e),
    'runtime.draining': (e) => logger.warn(`draining: ${e.reason}`, e),
    'runtime.keep-alive-failed': (e) => logger.warn(`turn keep-alive ${e.path} not renewed: ${e.error.message}`, e),
    'runtime.fenced': (e) => logger.error(`fenced: ${e.reason}`, e),
    'runtime.store-failed': (e) => logger.error(`store failed: ${e.error.message}`, { error: e.error, survivors: e.survivors }),
    'run.finished': (e) => logger.info(`run finished (exit code ${e.exitCode}): ${e.reason}`, e),
  };
  const entries = Object.entries(handlers) as [keyof RuntimeEvents, (event: never) => void][];
  for (const [type, handler] of entries) events.on(type, handler as never);
  return () => {
    for (const [type, handler] of entries) events.off(type, handler as never);
  };
}
