/** The crash fuzzer's seeded randomness and generated plan (see harness.ts). */
import { fileURLToPath } from 'node:url';
import type { FuzzOptions } from './harness.js';

// ---------------------------------------------------------------------------------------------
// Seeded randomness and the plan

/** A small seeded PRNG (mulberry32). */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
}

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (min, max) => min + Math.floor(next() * (max - min + 1)) };
}

export type UnitKind = 'ok' | 'fail-first' | 'always';

export interface PlannedUnit {
  readonly id: string;
  readonly milestoneId: string;
  readonly ms: number;
  readonly kind: UnitKind;
}

export interface PlannedMilestone {
  readonly id: string;
  readonly dependsOn: readonly string[];
  readonly units: readonly PlannedUnit[];
}

/** `fixtures/tick-logger.mjs` plus the turn's dispatch id, fencing token and attempt, and failure modes. */
export const FUZZ_UNIT = fileURLToPath(new URL('./fuzz-unit.mjs', import.meta.url));
export const CLI = fileURLToPath(new URL('../../bin/statecrew.js', import.meta.url));
/** Environment marker every process of one fuzz run inherits (runtimes, shims, turns). */
export const MARKER = 'STATECREW_FUZZ_RUN';

export function generatePlan(rng: Rng, options: Required<Pick<FuzzOptions, 'units' | 'unitsPerMilestone' | 'minUnitMs' | 'maxUnitMs' | 'failFirstUnits' | 'alwaysFailUnit' | 'dependencyRate'>>): PlannedMilestone[] {
  const count = Math.max(1, Math.ceil(options.units / options.unitsPerMilestone));
  const pad = (n: number, width: number) => String(n).padStart(width, '0');
  const milestones: { id: string; dependsOn: string[]; units: PlannedUnit[] }[] = [];
  for (let m = 0; m < count; m++) {
    const id = `m${pad(m + 1, String(count).length)}`;
    const size = Math.floor(options.units / count) + (m < options.units % count ? 1 : 0);
    const dependsOn = m > 0 && rng.next() < options.dependencyRate ? [milestones[rng.int(0, m - 1)]!.id] : [];
    const units: PlannedUnit[] = [];
    for (let u = 0; u < size; u++) {
      units.push({ id: `${id}/u${pad(u + 1, String(size).length)}`, milestoneId: id, ms: rng.int(options.minUnitMs, options.maxUnitMs), kind: 'ok' });
    }
    milestones.push({ id, dependsOn, units });
  }
  // The always-failing unit is the last of the last milestone: dependencies only point to
  // earlier milestones, so nothing is blocked by it.
  const last = milestones.at(-1)!;
  if (options.alwaysFailUnit) last.units[last.units.length - 1] = { ...last.units.at(-1)!, kind: 'always' };
  const candidates = milestones.flatMap((m, mi) => m.units.map((unit, ui) => ({ mi, ui, unit }))).filter((c) => c.unit.kind === 'ok');
  for (let i = 0; i < options.failFirstUnits && candidates.length > 0; i++) {
    const [picked] = candidates.splice(rng.int(0, candidates.length - 1), 1);
    if (picked !== undefined) milestones[picked.mi]!.units[picked.ui] = { ...picked.unit, kind: 'fail-first' };
  }
  return milestones;
}

export function planDocument(milestones: readonly PlannedMilestone[], ticksFile: string, workers: number, store = 'state/statecrew.db', workspace = false): string {
  const command = (unit: PlannedUnit): string[] => [process.execPath, FUZZ_UNIT, ticksFile, String(unit.ms), unit.kind];
  // JSON is YAML: the plan loader reads it as any other plan.
  return JSON.stringify(
    {
      version: 1,
      workers,
      store,
      defaults: { retryBackoff: '50ms' },
      ...(workspace ? { workspace: { repo: 'repo' } } : {}),
      milestones: milestones.map((m) => ({
        id: m.id,
        ...(m.dependsOn.length === 0 ? {} : { dependsOn: m.dependsOn }),
        units: m.units.map((unit) => ({ id: unit.id, command: command(unit), ...(unit.kind === 'always' ? { maxAttempts: 2 } : {}) })),
      })),
    },
    null,
    2,
  );
}

