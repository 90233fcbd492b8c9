/**
 * Bounds of a plan that the CLI checks its options against before it loads anything else
 * (kept apart from the schema, which loads zod).
 */

/**
 * Largest worker pool a plan may ask for (per runtime). Agents mostly wait on their API, so a
 * pool is sized by how many turns may run at once; each running turn holds about three file
 * descriptors in the runtime (its log, its stdin, the stdout follow of a stream-json turn).
 */
export const MAX_WORKERS = 512;

/** Longest retention period accepted, in ms (10 years): beyond it, say nothing (keep everything). */
export const MAX_RETENTION_MS = 3_650 * 86_400_000;
