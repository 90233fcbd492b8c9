/**
 * Loading a plan file: YAML text → schema validation (`./schema.ts`) → cross-field
 * rules (unique ids, known and acyclic dependencies) → a resolved {@link Plan}.
 * Every problem found is reported at once in one {@link PlanError}.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import type * as z from 'zod';
import { ensureError, PlanError, type PlanIssue } from '../../core/errors.js';
import { resolveStoreLocation } from '../../persistence/openStore.js';
import { NOTIFY_EVENTS, PLAN_FIELDS, planDocumentSchema, type PlanDocument } from './schema.js';
import type { MilestoneSpec, NotifySpec, Plan, RetentionPolicy, UnitSpec, WorkspaceSpec } from './types.js';

/** Options of {@link parsePlan}. */
export interface ParsePlanOptions {
  /** Path of the plan file the text came from; made absolute against `cwd`. Unit `cwd`s are relative to its folder. */
  readonly file: string;
  /** The current directory (normally `process.cwd()`): `file` and the plan's `store` are resolved against it. */
  readonly cwd: string;
}

/** Options of {@link loadPlan}. */
export interface LoadPlanOptions {
  /** The current directory (normally `process.cwd()`): `file` and the plan's `store` are resolved against it. */
  readonly cwd: string;
}

/**
 * Reads and validates a plan file (YAML, `version: 1`) and resolves it into a {@link Plan}.
 *
 * Reads `file` synchronously (UTF-8), then behaves as {@link parsePlan}.
 *
 * @param file - Path of the plan file, absolute or relative to `options.cwd`.
 * @returns The resolved plan: defaults applied, durations in ms, paths absolute.
 * @throws {PlanError} When the file cannot be read (one issue at path `''` carrying the OS
 *   reason, e.g. `cannot read file: ENOENT: no such file or directory, open '…'`, with the
 *   fs error as `cause`), or for any reason {@link parsePlan} throws.
 * @example
 * ```ts
 * const plan = loadPlan('plan.yaml', { cwd: process.cwd() });
 * ```
 */
export function loadPlan(file: string, options: LoadPlanOptions): Plan {
  const absoluteFile = path.resolve(options.cwd, file);
  let text: string;
  try {
    text = readFileSync(absoluteFile, 'utf8');
  } catch (error) {
    throw new PlanError(absoluteFile, [{ path: '', message: `cannot read file: ${ensureError(error).message}` }], { cause: error });
  }
  return parsePlan(text, { file: absoluteFile, cwd: options.cwd });
}

/**
 * Parses plan YAML text, validates it and resolves it into a {@link Plan}.
 *
 * Resolution:
 * - `workers` defaults to 2 (at most 512, `MAX_WORKERS`); `store` defaults to `.statecrew/statecrew.db`
 *   and is resolved against `options.cwd`.
 * - Each unit takes `maxAttempts`, `timeout`, `stallTimeout`, `retryBackoff`, `killGrace`,
 *   `stuckAfter`, `toolTimeout`, `permissionDenials`, `maxTransientWait` from itself, else from
 *   `defaults`, else 3 / 10m / 2m / 1s / 5s / 3 / 30m / fail / 2h; durations become ms. Its
 *   `agent` key is its `agent:` name, else its program's basename.
 * - A unit's `cwd` is resolved against the plan file's folder (default: that folder);
 *   `env` defaults to `{}`, `input` to `null`, `dependsOn` to `[]`.
 *
 * @returns The resolved plan; `file` is `options.file` made absolute against `options.cwd`.
 * @throws {PlanError} Listing every issue found, each with a field path such as
 *   `milestones[1].units[0].command`: YAML syntax errors (with line and column), an empty
 *   document or one that is not a mapping, schema violations (wrong types, unknown fields,
 *   bad durations), duplicate milestone ids, unit ids repeated anywhere in the plan,
 *   dependencies on unknown milestones, on the milestone itself, or in a cycle.
 */
export function parsePlan(text: string, options: ParsePlanOptions): Plan {
  const file = path.resolve(options.cwd, options.file);
  return resolvePlan(validatePlanDocument(parseYaml(text, file), file), file, path.resolve(options.cwd));
}

/**
 * Ids already in a plan that a document adds to: its milestones (with their dependencies)
 * may be named in `dependsOn` and receive more units; its unit ids may not be reused.
 * @internal
 */
export interface ExistingPlanIds {
  readonly milestones: ReadonlyMap<string, readonly string[]>;
  readonly unitIds: ReadonlySet<string>;
}

/**
 * Schema and cross-field validation of a plan document (already parsed from YAML or given as
 * an object), every issue reported at once.
 * @throws {PlanError} naming `file` and each field path.
 * @internal
 */
export function validatePlanDocument(data: unknown, file: string, existing?: ExistingPlanIds): PlanDocument {
  const parsed = planDocumentSchema.safeParse(data);
  const issues = [...(parsed.success ? [] : parsed.error.issues.flatMap(toPlanIssues)), ...checkReferences(data, existing)];
  if (!parsed.success || issues.length > 0) throw new PlanError(file, issues, parsed.success ? {} : { cause: parsed.error });
  return parsed.data;
}

/**
 * A fingerprint of the work a plan describes: the sha256 (hex, 64 characters) of a
 * canonical JSON (object keys sorted) of `plan.milestones`, with their units and every
 * resolved unit field (command, absolute cwd, env, input, attempts, durations in ms).
 * `file`, `workers` and `store` are left out: they may change between runs without
 * changing the work. Equal plans give equal fingerprints, whatever the YAML key order.
 */
export function planFingerprint(plan: Plan): string {
  return createHash('sha256').update(canonicalJson(plan.milestones)).digest('hex');
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new PlanError(
      file,
      doc.errors.map((error) => {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        return { path: '', message: `YAML syntax error at line ${line}, column ${col}: ${error.message}` };
      }),
      { cause: doc.errors[0] },
    );
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    throw new PlanError(file, [{ path: '', message: `cannot read the YAML document: ${ensureError(error).message}` }], { cause: error });
  }
  if (data === null || data === undefined) {
    throw new PlanError(file, [{ path: '', message: 'the plan is empty; expected a mapping with version and milestones' }]);
  }
  return data;
}

/** Formats a zod path the way plan issues name fields: `milestones[1].units[0].env.LEVEL`. */
function formatPath(segments: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of segments) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

function toPlanIssues(issue: z.core.$ZodIssue): PlanIssue[] {
  switch (issue.code) {
    case 'unrecognized_keys':
      return issue.keys.map((key) => ({ path: formatPath([...issue.path, key]), message: unknownFieldMessage(key, issue.path) }));
    case 'invalid_key':
      return issue.issues.map((inner) => ({ path: formatPath(issue.path), message: inner.message }));
    default:
      return [{ path: formatPath(issue.path), message: issue.message }];
  }
}

function unknownFieldMessage(key: string, at: readonly PropertyKey[]): string {
  const known = knownFieldsAt(at);
  const threshold = Math.max(1, Math.floor(key.length / 3));
  let suggestion: string | undefined;
  let best = Infinity;
  for (const field of known) {
    const distance = editDistance(field.toLowerCase(), key.toLowerCase());
    if (distance <= threshold && distance < best) [suggestion, best] = [field, distance];
  }
  return suggestion === undefined
    ? `unknown field ${JSON.stringify(key)}; expected one of: ${known.join(', ')}`
    : `unknown field ${JSON.stringify(key)} (did you mean "${suggestion}"?)`;
}

function knownFieldsAt(at: readonly PropertyKey[]): readonly string[] {
  if (at.length === 0) return PLAN_FIELDS.plan;
  if (at[0] === 'defaults') return PLAN_FIELDS.defaults;
  if (at[0] === 'workspace') return PLAN_FIELDS.workspace;
  if (at[0] === 'retention') return PLAN_FIELDS.retention;
  if (at[0] === 'notify') return PLAN_FIELDS.notify;
  if (at[0] === 'milestones' && at[2] === 'workspace') return PLAN_FIELDS.milestoneWorkspace;
  return at.length <= 2 ? PLAN_FIELDS.milestone : PLAN_FIELDS.unit;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/** What the reference checks need of a milestone, read leniently from the raw document. */
interface MilestoneRefs {
  readonly index: number;
  readonly id: string | undefined;
  readonly dependsOn: readonly (string | undefined)[];
  readonly unitIds: readonly (string | undefined)[];
}

function itemsAt(value: unknown, key: string): unknown[] {
  const field = isRecord(value) ? value[key] : undefined;
  return Array.isArray(field) ? field : [];
}

function stringAt(value: unknown, key: string): string | undefined {
  const field = isRecord(value) ? value[key] : undefined;
  return typeof field === 'string' ? field : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Cross-field rules, checked on the raw document so that they are reported together with
 * schema issues: unique milestone ids, unit ids unique across the plan, dependencies that
 * name known milestones other than the milestone itself, listed once, without cycles.
 */
function checkReferences(data: unknown, existing?: ExistingPlanIds): PlanIssue[] {
  const milestones: MilestoneRefs[] = itemsAt(data, 'milestones').map((milestone, index) => ({
    index,
    id: stringAt(milestone, 'id'),
    dependsOn: itemsAt(milestone, 'dependsOn').map((dep) => (typeof dep === 'string' ? dep : undefined)),
    unitIds: itemsAt(milestone, 'units').map((unit) => stringAt(unit, 'id')),
  }));
  const issues: PlanIssue[] = [];
  const milestoneIndex = new Map<string, number>();
  const unitPaths = new Map<string, string>();
  for (const milestone of milestones) {
    const at = `milestones[${milestone.index}]`;
    if (milestone.id !== undefined) {
      const first = milestoneIndex.get(milestone.id);
      if (first === undefined) milestoneIndex.set(milestone.id, milestone.index);
      else issues.push({ path: `${at}.id`, message: `duplicate milestone id ${JSON.stringify(milestone.id)} (first at milestones[${first}])` });
    }
    const before = milestone.id === undefined ? undefined : existing?.milestones.get(milestone.id);
    if (before !== undefined && milestone.dependsOn.length > 0 && JSON.stringify(milestone.dependsOn) !== JSON.stringify(before)) {
      issues.push({ path: `${at}.dependsOn`, message: `milestone ${JSON.stringify(milestone.id)} is already in the plan and its dependencies cannot change; leave dependsOn out to add units to it` });
    }
    milestone.unitIds.forEach((unitId, unitIndex) => {
      if (unitId === undefined) return;
      const unitPath = `${at}.units[${unitIndex}]`;
      if (existing?.unitIds.has(unitId) === true) {
        issues.push({ path: `${unitPath}.id`, message: `unit ${JSON.stringify(unitId)} is already in the plan; unit ids are unique across the plan` });
        return;
      }
      const first = unitPaths.get(unitId);
      if (first === undefined) unitPaths.set(unitId, unitPath);
      else issues.push({ path: `${unitPath}.id`, message: `duplicate unit id ${JSON.stringify(unitId)} (first at ${first})` });
    });
  }
  const known = [...new Set([...(existing?.milestones.keys() ?? []), ...milestoneIndex.keys()])];
  const edges = new Map<number, { readonly target: number; readonly depIndex: number }[]>();
  for (const milestone of milestones) {
    const targets: { target: number; depIndex: number }[] = [];
    const seen = new Set<string>();
    milestone.dependsOn.forEach((dep, depIndex) => {
      if (dep === undefined) return;
      const at = `milestones[${milestone.index}].dependsOn[${depIndex}]`;
      const target = milestoneIndex.get(dep);
      if (seen.has(dep)) issues.push({ path: at, message: `milestone ${JSON.stringify(dep)} is listed twice` });
      else if (dep === milestone.id) issues.push({ path: at, message: `milestone ${JSON.stringify(dep)} depends on itself` });
      else if (target === undefined && existing?.milestones.has(dep) === true) {
        // A milestone already in the plan: it depends on nothing new, so no cycle runs through it.
      } else if (target === undefined) {
        issues.push({ path: at, message: `unknown milestone ${JSON.stringify(dep)}; known: ${known.length === 0 ? '(none)' : known.join(', ')}` });
      } else targets.push({ target, depIndex });
      seen.add(dep);
    });
    if (milestone.id !== undefined && milestoneIndex.get(milestone.id) === milestone.index) edges.set(milestone.index, targets);
  }
  return [...issues, ...findCycles(milestones, edges), ...checkAgents(data), ...checkWorkspaces(data)];
}

/**
 * A milestone's `workspace` overrides need the plan's `workspace`; a unit of a milestone with a
 * workspace has a `cwd` inside the worktree (relative, not leaving it).
 */
function checkWorkspaces(data: unknown): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const planWorkspace = isRecord(data) ? data.workspace : undefined;
  itemsAt(data, 'milestones').forEach((milestone, m) => {
    const own = isRecord(milestone) ? milestone.workspace : undefined;
    if (isRecord(own) && planWorkspace === undefined) {
      issues.push({ path: `milestones[${m}].workspace`, message: 'no workspace to override: add a top-level workspace (for example workspace: { repo: . })' });
    }
    if (planWorkspace === undefined || own === false) return;
    itemsAt(milestone, 'units').forEach((unit, u) => {
      const cwd = stringAt(unit, 'cwd');
      if (cwd === undefined) return;
      const normal = path.posix.normalize(cwd.replaceAll('\\', '/'));
      if (path.isAbsolute(cwd) || normal === '..' || normal.startsWith('../')) {
        issues.push({ path: `milestones[${m}].units[${u}].cwd`, message: `expected a folder inside the milestone's worktree (relative, without leading ..), got ${JSON.stringify(cwd)}` });
      }
    });
  });
  return issues;
}

/** Every unit gives exactly one of `command` and `agent`, and its agent is defined under `agents`. */
function checkAgents(data: unknown): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const agents = data !== null && typeof data === 'object' && 'agents' in data ? data.agents : undefined;
  const known = agents !== null && typeof agents === 'object' ? Object.keys(agents) : [];
  itemsAt(data, 'milestones').forEach((milestone, m) => {
    itemsAt(milestone, 'units').forEach((unit, u) => {
      if (unit === null || typeof unit !== 'object') return;
      const at = `milestones[${m}].units[${u}]`;
      const hasCommand = 'command' in unit && unit.command !== undefined;
      const agent = stringAt(unit, 'agent');
      if (!hasCommand && agent === undefined && !('agent' in unit)) {
        issues.push({ path: `${at}.command`, message: 'missing required field; expected a list of strings such as [node, build.mjs] (argv, never run through a shell), or agent: <name>' });
      } else if (hasCommand && 'agent' in unit) {
        issues.push({ path: `${at}.agent`, message: 'expected either command or agent, not both' });
      } else if (agent !== undefined && !known.includes(agent)) {
        issues.push({ path: `${at}.agent`, message: `unknown agent ${JSON.stringify(agent)}; known: ${known.length === 0 ? '(none: define them under agents)' : known.join(', ')}` });
      }
    });
  });
  return issues;
}

/** Depth-first search in plan order; each back edge closes a cycle, reported from its earliest milestone. */
function findCycles(
  milestones: readonly MilestoneRefs[],
  edges: ReadonlyMap<number, readonly { readonly target: number; readonly depIndex: number }[]>,
): PlanIssue[] {
  const state = new Map<number, 'active' | 'done'>();
  const stack: { readonly node: number; depIndex: number }[] = [];
  const issues: PlanIssue[] = [];
  const visit = (node: number): void => {
    state.set(node, 'active');
    const frame = { node, depIndex: -1 };
    stack.push(frame);
    for (const edge of edges.get(node) ?? []) {
      frame.depIndex = edge.depIndex;
      const seen = state.get(edge.target);
      if (seen === undefined) visit(edge.target);
      else if (seen === 'active') issues.push(describeCycle(milestones, stack.slice(stack.findIndex((f) => f.node === edge.target))));
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of edges.keys()) if (!state.has(node)) visit(node);
  return issues;
}

function describeCycle(milestones: readonly MilestoneRefs[], cycle: readonly { readonly node: number; readonly depIndex: number }[]): PlanIssue {
  const start = cycle.reduce((earliest, frame, i) => (frame.node < (cycle[earliest]?.node ?? Infinity) ? i : earliest), 0);
  const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
  const ids = rotated.map((frame) => milestones[frame.node]?.id ?? '?');
  const first = rotated[0];
  return {
    path: `milestones[${first?.node ?? 0}].dependsOn[${first?.depIndex ?? 0}]`,
    message: `dependency cycle: ${[...ids, ids[0]].join(' -> ')} (each milestone depends on the next)`,
  };
}

/** Applies defaults and resolves paths: a validated document → a {@link Plan}. @internal */
export function resolvePlan(doc: PlanDocument, file: string, cwd: string): Plan {
  const planFolder = path.dirname(file);
  const milestones = doc.milestones.map((milestone, position): MilestoneSpec => {
    const workspace = resolveWorkspace(doc, milestone, planFolder);
    const units = milestone.units.map((unit, unitPosition): UnitSpec => {
      const agent = unit.agent === undefined ? undefined : doc.agents?.[unit.agent];
      const command = unit.command ?? agent?.command;
      if (command === undefined) throw new Error(`unit ${unit.id} has neither command nor agent after validation`);
      return {
        id: unit.id,
        milestoneId: milestone.id,
        position: unitPosition,
        command,
        cwd: path.resolve(planFolder, unit.cwd ?? '.'),
        env: { ...(agent?.env ?? {}), ...(unit.env ?? {}) },
        input: unit.input ?? null,
        maxAttempts: unit.maxAttempts ?? doc.defaults.maxAttempts,
        timeoutMs: unit.timeout ?? doc.defaults.timeout,
        stallTimeoutMs: unit.stallTimeout ?? doc.defaults.stallTimeout,
        retryBackoffMs: unit.retryBackoff ?? doc.defaults.retryBackoff,
        killGraceMs: unit.killGrace ?? doc.defaults.killGrace,
        stuckAfter: unit.stuckAfter ?? doc.defaults.stuckAfter,
        protocol: unit.protocol ?? agent?.protocol ?? doc.defaults.protocol,
        toolTimeoutMs: unit.toolTimeout ?? doc.defaults.toolTimeout,
        permissionDenials: unit.permissionDenials ?? doc.defaults.permissionDenials,
        maxTransientWaitMs: unit.maxTransientWait ?? doc.defaults.maxTransientWait,
        agent: unit.agent ?? path.basename(command[0] ?? ''),
        ...(unit.maxCostUsd === undefined ? {} : { maxCostUsd: unit.maxCostUsd }),
        initialCommand: unit.initialCommand ?? agent?.initialCommand ?? null,
        ...(workspace === undefined ? {} : { workspaceCwd: unit.cwd ?? '.' }),
      };
    });
    if (workspace?.check != null) units.push(checkUnit(doc, milestone.id, units.length, workspace));
    return {
      id: milestone.id,
      position,
      dependsOn: milestone.dependsOn,
      units,
      ...(workspace === undefined ? {} : { workspace }),
      ...(milestone.maxCostUsd === undefined ? {} : { maxCostUsd: milestone.maxCostUsd }),
    };
  });
  return {
    file,
    version: doc.version,
    workers: doc.workers,
    store: resolveStoreLocation(doc.store, cwd),
    milestones,
    ...(doc.maxCostUsd === undefined ? {} : { maxCostUsd: doc.maxCostUsd }),
    ...(doc.retention === undefined ? {} : { retention: retentionOf(doc.retention) }),
    ...(doc.notify === undefined ? {} : { notify: doc.notify.map(notifyOf) }),
  };
}

/** Time a webhook or command of `notify` gets per attempt when the plan does not say, in ms. */
export const DEFAULT_NOTIFY_TIMEOUT_MS = 30_000;
/** Attempts at one notification when the plan does not say. */
export const DEFAULT_NOTIFY_ATTEMPTS = 8;

function notifyOf(doc: NonNullable<PlanDocument['notify']>[number]): NotifySpec {
  return {
    ...(doc.webhook === undefined ? {} : { webhook: doc.webhook }),
    ...(doc.command === undefined ? {} : { command: doc.command }),
    on: doc.on ?? [...NOTIFY_EVENTS],
    timeoutMs: doc.timeout ?? DEFAULT_NOTIFY_TIMEOUT_MS,
    maxAttempts: doc.maxAttempts ?? DEFAULT_NOTIFY_ATTEMPTS,
  };
}

/** How often a runtime compacts when the plan's retention does not say, in ms. */
export const DEFAULT_RETENTION_EVERY_MS = 60_000;

function retentionOf(doc: NonNullable<PlanDocument['retention']>): RetentionPolicy {
  return {
    ...(doc.journal === undefined ? {} : { journalMs: doc.journal }),
    ...(doc.turnOutput === undefined ? {} : { turnOutputMs: doc.turnOutput }),
    ...(doc.actors === undefined ? {} : { actorsMs: doc.actors }),
    everyMs: doc.every ?? DEFAULT_RETENTION_EVERY_MS,
  };
}

/** The milestone's workspace: the plan's, with the milestone's overrides; `undefined` without one or when it opts out. */
function resolveWorkspace(doc: PlanDocument, milestone: PlanDocument['milestones'][number], planFolder: string): WorkspaceSpec | undefined {
  const plan = doc.workspace;
  const own = milestone.workspace;
  if (plan === undefined || own === false) return undefined;
  const author = /^(.+?) <(.+)>$/.exec(plan.author);
  return {
    repo: path.resolve(planFolder, plan.repo),
    base: plan.base ?? null,
    branch: plan.branch.replaceAll('{milestone}', milestone.id),
    check: own?.check ?? plan.check ?? null,
    merge: own?.merge ?? plan.merge,
    fixTurns: own?.fixTurns ?? plan.fixTurns,
    deleteBranch: own?.deleteBranch ?? plan.deleteBranch,
    author: { name: author?.[1] ?? 'statecrew', email: author?.[2] ?? 'statecrew@localhost' },
    root: plan.worktrees === undefined ? null : path.resolve(planFolder, plan.worktrees),
  };
}

/**
 * The check of a milestone's workspace as a unit run after the milestone's own: a turn like any
 * other (timeouts, stall watchdog, kill-verify, logs), in the worktree's root. Each failure uses
 * one of the workspace's fix turns, so it may fail `fixTurns + 1` times, retried at once after the
 * fix turn, never stuck before that.
 */
function checkUnit(doc: PlanDocument, milestoneId: string, position: number, workspace: WorkspaceSpec): UnitSpec {
  return {
    id: `${milestoneId}#check`,
    milestoneId,
    position,
    command: workspace.check ?? [],
    cwd: workspace.repo,
    env: {},
    input: null,
    maxAttempts: workspace.fixTurns + 1,
    timeoutMs: doc.defaults.timeout,
    stallTimeoutMs: doc.defaults.stallTimeout,
    retryBackoffMs: 0,
    killGraceMs: doc.defaults.killGrace,
    stuckAfter: workspace.fixTurns + 2,
    protocol: 'text',
    toolTimeoutMs: doc.defaults.toolTimeout,
    permissionDenials: 'fail',
    maxTransientWaitMs: doc.defaults.maxTransientWait,
    agent: path.basename(workspace.check?.[0] ?? ''),
    initialCommand: null,
    role: 'check',
    workspaceCwd: '.',
  };
}

/** JSON with object keys sorted at every level, so equal values always serialise the same. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
