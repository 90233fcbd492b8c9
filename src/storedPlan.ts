import { z } from 'zod';
import { NOTIFY_EVENTS } from './plan/schema.js';
import { StoreCorruptError } from '../core/errors.js';
import type { PlanRecord } from '../persistence/types.js';
import type { Plan } from './plan/types.js';

/** The resolved plan as the store records it (JSON of {@link Plan}): checked whenever it is read back. */
const unitSchema = z.object({
  id: z.string(),
  milestoneId: z.string(),
  position: z.number().int(),
  command: z.array(z.string()).min(1),
  cwd: z.string(),
  env: z.record(z.string(), z.string()),
  input: z.string().nullable(),
  maxAttempts: z.number().int().positive(),
  timeoutMs: z.number().nonnegative(),
  stallTimeoutMs: z.number().nonnegative(),
  retryBackoffMs: z.number().nonnegative(),
  killGraceMs: z.number().nonnegative(),
  stuckAfter: z.number().int().positive(),
  protocol: z.enum(['text', 'stream-json', 'codex-json']),
  // Absent from plans recorded before statecrew had them: their defaults.
  toolTimeoutMs: z.number().nonnegative().default(1_800_000),
  permissionDenials: z.enum(['fail', 'accept']).default('fail'),
  maxTransientWaitMs: z.number().nonnegative().default(7_200_000),
  agent: z.string().default(''),
  maxCostUsd: z.number().positive().optional(),
  initialCommand: z.array(z.string()).nullable(),
  role: z.literal('check').optional(),
  workspaceCwd: z.string().optional(),
});

const workspaceSchema = z.object({
  repo: z.string(),
  base: z.string().nullable(),
  branch: z.string(),
  check: z.array(z.string()).min(1).nullable(),
  merge: z.enum(['merge', 'squash', 'rebase']),
  fixTurns: z.number().int().nonnegative(),
  deleteBranch: z.boolean(),
  author: z.object({ name: z.string(), email: z.string() }),
  root: z.string().nullable(),
});

const planSchema = z.object({
  file: z.string(),
  version: z.literal(1),
  workers: z.number().int().positive(),
  store: z.string(),
  milestones: z.array(
    z.object({
      id: z.string(),
      position: z.number().int(),
      dependsOn: z.array(z.string()),
      units: z.array(unitSchema),
      workspace: workspaceSchema.optional(),
      maxCostUsd: z.number().positive().optional(),
    }),
  ),
  maxCostUsd: z.number().positive().optional(),
  retention: z
    .object({
      journalMs: z.number().int().nonnegative().optional(),
      turnOutputMs: z.number().int().nonnegative().optional(),
      actorsMs: z.number().int().nonnegative().optional(),
      everyMs: z.number().int().positive(),
    })
    .optional(),
  notify: z
    .array(
      z.object({
        webhook: z.string().optional(),
        command: z.array(z.string()).min(1).optional(),
        on: z.array(z.enum(NOTIFY_EVENTS)),
        timeoutMs: z.number().int().positive(),
        maxAttempts: z.number().int().positive(),
      }),
    )
    .optional(),
});

/**
 * Parses and validates the plan a store recorded.
 * @throws StoreCorruptError when the body is not JSON or not a resolved plan (the message names the field path).
 */
export function parseStoredPlan(record: PlanRecord): Plan {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch (error) {
    throw new StoreCorruptError('the plan recorded in the store is not JSON', { cause: error });
  }
  const parsed = planSchema.safeParse(body);
  if (!parsed.success) {
    throw new StoreCorruptError(`the plan recorded in the store is invalid: ${z.prettifyError(parsed.error)}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The plan a store recorded last, `undefined` when none was. @throws StoreCorruptError as {@link parseStoredPlan}. */
export async function readStoredPlan(store: { loadPlan(): Promise<PlanRecord | undefined> }): Promise<Plan | undefined> {
  const record = await store.loadPlan();
  return record === undefined ? undefined : parseStoredPlan(record);
}
