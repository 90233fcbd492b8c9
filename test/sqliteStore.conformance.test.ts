import path from 'node:path';
import { openStoreAt } from '../persistence/openStore.js';
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
import { tempDir } from './helpers/tempStore.js';

/** The SQLite backend of the shared conformance suite: a new file in a new temp folder per test. */
const sqlite: ConformanceBackend = {
  name: 'SqliteStore',
  hasOwnClock: false,
  setup() {
    const { dir, cleanup } = tempDir('statecrew-conformance-');
    const file = path.join(dir, 'nested', 'store.db');
    return Promise.resolve({ open: () => openStoreAt(file), teardown: () => Promise.resolve(cleanup()) });
  },
};

describeCheckpointer(sqlite);
describeLeaseLedger(sqlite);
describeRuntimeRegistry(sqlite);
describeOperatorQueue(sqlite);
describeNotificationOutbox(sqlite);
describeTraceContexts(sqlite);
describeTurnEventLog(sqlite);
describeRetention(sqlite);
describePlanRecords(sqlite);
describeStoreMeta(sqlite);
