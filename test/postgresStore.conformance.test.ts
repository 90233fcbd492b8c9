import { afterAll, beforeAll } from 'vitest';
import { PostgresStore } from '../persistence/postgres/pgStore.js';
import { startPgServer, type PgServer } from '../scripts/pgServer.mjs';
import type { ConformanceBackend } from './conformance/backend.js';
import { describeCheckpointer } from './conformance/checkpointer.spec.js';
import { describeLeaseLedger } from './conformance/leaseLedger.spec.js';
import { describeNotificationOutbox } from './conformance/notificationOutbox.spec.js';
import { describeOperatorQueue } from './conformance/operatorQueue.spec.js';
import { describeTraceContexts } from './conformance/traceContexts.spec.js';
import { describePlanRecords } from './conformance/planRecords.spec.js';
import { describeRuntimeRegistry } from './conformance/runtimeRegistry.spec.js';
import { describeStoreMeta } from './conformance/storeMeta.spec.js';
import { describeTurnEventLog } from './conformance/turnEventLog.spec.js';
import { describeRetention } from './conformance/retention.spec.js';

/**
 * The PostgreSQL backend of the shared conformance suite: one throwaway server for this file
 * (scripts/pgServer.mjs), a schema of its own per test, dropped afterwards.
 */
let server: PgServer | undefined;
let schemas = 0;

beforeAll(async () => {
  server = await startPgServer();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

const postgres: ConformanceBackend = {
  name: 'PostgresStore',
  hasOwnClock: true,
  setup() {
    const running = server;
    if (running === undefined) throw new Error('the PostgreSQL server of this file did not start');
    const schema = `conformance_${++schemas}`;
    return Promise.resolve({
      open: () => new PostgresStore(running.url, { schema, poolSize: 4 }),
      teardown: () => Promise.resolve(void running.psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)),
    });
  },
};

describeCheckpointer(postgres);
describeLeaseLedger(postgres);
describeRuntimeRegistry(postgres);
describeOperatorQueue(postgres);
describeNotificationOutbox(postgres);
describeTraceContexts(postgres);
describeTurnEventLog(postgres);
describeRetention(postgres);
describePlanRecords(postgres);
describeStoreMeta(postgres);
