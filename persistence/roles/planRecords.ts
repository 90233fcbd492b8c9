import type { PlanRecord } from '../types.js';

/** The plan record role: the plan last submitted to the store, which a restart resumes. */
export interface PlanRecords {
  /** Records the submitted plan (JSON text) and its fingerprint, replacing the previous one. */
  savePlan(record: PlanRecord): Promise<void>;
  /** The plan last saved, `undefined` when none was. */
  loadPlan(): Promise<PlanRecord | undefined>;
}
