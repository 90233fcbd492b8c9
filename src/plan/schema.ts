/**
 * The zod schema of a plan file (`version: 1`) as written in YAML: what each field
 * accepts, its default, and the wording of the issue reported when it is wrong.
 * Durations are converted to milliseconds here; ids, cross-references between
 * milestones and paths are checked and resolved by `parsePlan` (`./load.ts`).
 */
import * as z from 'zod';
import { parseDuration } from '../../core/duration.js';
import { MAX_RETENTION_MS, MAX_WORKERS } from './limits.js';

export { MAX_RETENTION_MS, MAX_WORKERS } from './limits.js';

/** Longest id accepted for milestones and units, in characters. */
export const MAX_ID_LENGTH = 128;



/**
 * Longest duration accepted, in ms: 2^31 - 1, the largest delay Node's timers honour
 * (a longer `setTimeout` delay fires after 1 ms instead), about 596 hours.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/** Characters allowed in ids: a letter or digit, then letters, digits, `.`, `_`, `-`, `/`, `:`. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*$/;

/** Defaults applied to every unit that does not override them (durations in ms). */
export const UNIT_DEFAULTS = {
  /** @default 3 */
  maxAttempts: 3,
  /** 10m. */
  timeout: 600_000,
  /** 2m. */
  stallTimeout: 120_000,
  /** 30m: the silence limit while a stream-json agent waits on a tool call. */
  toolTimeout: 1_800_000,
  /** A stream-json turn with denied tools fails. */
  permissionDenials: 'fail',
  /** 2h: how long a unit waits out an API that keeps failing its turns before it fails. */
  maxTransientWait: 7_200_000,
  /** 1s. */
  retryBackoff: 1_000,
  /** 5s. */
  killGrace: 5_000,
  /** Failures in a row with the same signature (exit code and last stderr line) that make a unit stuck. @default 3 */
  stuckAfter: 3,
} as const;

/** Store path used when a plan names none, relative to the current directory. */
export const DEFAULT_STORE = '.statecrew/statecrew.db';

/** Worker pool size used when a plan names none. */
export const DEFAULT_WORKERS = 2;

/**
 * Describes a value read from YAML for an issue message: `string "two"`, `number 2`,
 * `a list`, `a mapping`, `null`.
 * @internal
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  switch (typeof value) {
    case 'string':
      return `string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 57)}...` : value)}`;
    case 'number':
    case 'boolean':
    case 'bigint':
      return `${typeof value} ${String(value)}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof value;
  }
}

/** Error function for a field: names what was expected and what was found (or that it is missing). */
function expecting(what: string, hint?: (input: unknown) => string | undefined) {
  return (issue: { input?: unknown }): string => {
    if (issue.input === undefined) return `missing required field; expected ${what}`;
    const extra = hint?.(issue.input);
    return `expected ${what}, got ${describeValue(issue.input)}${extra === undefined ? '' : ` ${extra}`}`;
  };
}

/** Hint for scalars given where a string is required: YAML read them as numbers or booleans. */
function quoteHint(input: unknown): string | undefined {
  return typeof input === 'number' || typeof input === 'boolean' ? `(quote it: "${String(input)}")` : undefined;
}

const idSchema = (what: string) =>
  z
    .string({ error: expecting(`${what} such as "core"`, quoteHint) })
    .min(1, { error: `expected ${what}, got an empty string` })
    .max(MAX_ID_LENGTH, {
      error: (issue) => `expected ${what} of at most ${MAX_ID_LENGTH} characters, got ${typeof issue.input === 'string' ? issue.input.length : '?'}`,
    })
    .regex(ID_PATTERN, {
      error: (issue) =>
        `expected ${what} made of letters, digits, ".", "_", "-", "/" or ":" and starting with a letter or digit, got ${describeValue(issue.input)}`,
    });

const DURATION_EXPECTED = 'a duration such as 500ms, 30s, 2m or 1h';

const unitHint = (input: unknown) => (typeof input === 'number' ? `(add a unit: "${input}s")` : undefined);

/** A duration string (`500ms`, `30s`, `2m`, `1h`), greater than 0, parsed to milliseconds. */
const durationSchema = z.string({ error: expecting(DURATION_EXPECTED, unitHint) }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined) {
    ctx.issues.push({ code: 'custom', input: text, message: `expected ${DURATION_EXPECTED}, got ${describeValue(text)}` });
    return z.NEVER;
  }
  if (ms <= 0) {
    ctx.issues.push({ code: 'custom', input: text, message: `expected a duration greater than 0, got ${describeValue(text)}` });
    return z.NEVER;
  }
  if (ms > MAX_DURATION_MS) {
    ctx.issues.push({
      code: 'custom',
      input: text,
      message: `expected a duration of at most 596h (${MAX_DURATION_MS} ms, the longest timer delay Node honours), got ${describeValue(text)}`,
    });
    return z.NEVER;
  }
  return ms;
});

const positiveIntSchema = (what: string, max?: number) => {
  const base = z.int({ error: expecting(`${what} (a whole number of at least 1)`) }).min(1, {
    error: (issue) => `expected ${what} of at least 1, got ${describeValue(issue.input)}`,
  });
  return max === undefined
    ? base
    : base.max(max, { error: (issue) => `expected ${what} of at most ${max}, got ${describeValue(issue.input)}` });
};

const mapping = (what: string) => ({ error: expecting(what) });

/** A budget in USD: a positive number, e.g. 2.5. */
const usdSchema = z
  .number({ error: expecting('an amount of USD such as 2.5') })
  .positive({ error: (issue) => `expected a positive amount of USD such as 2.5, got ${describeValue(issue.input)}` });

/** Fields a unit may override; also the fields of `defaults`. Durations come out in ms. */
const overridableShape = {
  maxAttempts: positiveIntSchema('a number of attempts'),
  timeout: durationSchema,
  stallTimeout: durationSchema,
  retryBackoff: durationSchema,
  killGrace: durationSchema,
  protocol: z.enum(['text', 'stream-json', 'codex-json'], { error: expecting('a protocol: text, stream-json or codex-json') }),
  toolTimeout: durationSchema,
  permissionDenials: z.enum(['fail', 'accept'], { error: expecting('fail or accept (what a turn whose result lists denied tools does)') }),
  maxTransientWait: durationSchema,
  stuckAfter: z.int({ error: expecting('a number of failures in a row (a whole number of at least 2)') }).min(2, {
    error: (issue) => `expected a number of failures in a row of at least 2, got ${describeValue(issue.input)}`,
  }),
};

/** `defaults:` — values applied to every unit; each field falls back to {@link UNIT_DEFAULTS}. */
export const defaultsSchema = z.strictObject(
  {
    maxAttempts: overridableShape.maxAttempts.default(UNIT_DEFAULTS.maxAttempts),
    timeout: durationSchema.default(UNIT_DEFAULTS.timeout),
    stallTimeout: durationSchema.default(UNIT_DEFAULTS.stallTimeout),
    retryBackoff: durationSchema.default(UNIT_DEFAULTS.retryBackoff),
    killGrace: durationSchema.default(UNIT_DEFAULTS.killGrace),
    stuckAfter: overridableShape.stuckAfter.default(UNIT_DEFAULTS.stuckAfter),
    protocol: overridableShape.protocol.default('text'),
    toolTimeout: durationSchema.default(UNIT_DEFAULTS.toolTimeout),
    permissionDenials: overridableShape.permissionDenials.default(UNIT_DEFAULTS.permissionDenials),
    maxTransientWait: durationSchema.default(UNIT_DEFAULTS.maxTransientWait),
  },
  mapping('a mapping of maxAttempts, timeout, stallTimeout, retryBackoff, killGrace, stuckAfter, protocol, toolTimeout, permissionDenials, maxTransientWait'),
);

const envKeySchema = z
  .string()
  .min(1, { error: 'expected an environment variable name, got an empty string' })
  .regex(/^[^=\0]*$/, {
    error: (issue) => `expected an environment variable name without "=" or NUL, got ${describeValue(issue.input)}`,
  });

/** One entry of `units:`. `cwd` is relative to the plan file's folder. */
export const unitSchema = z.strictObject(
  {
    id: idSchema('a unit id'),
    command: z
      .array(z.string({ error: expecting('a string argument', quoteHint) }), {
        error: expecting('a list of strings such as [node, build.mjs] (argv, never run through a shell)'),
      })
      .min(1, { error: 'expected a non-empty list: the program, then its arguments; got an empty list' })
      .check((ctx) => {
        if (ctx.value[0] === '') {
          ctx.issues.push({ code: 'custom', input: ctx.value, path: [0], message: 'expected a program name, got an empty string' });
        }
      })
      .optional(),
    agent: z.string({ error: expecting('the name of an agent defined under agents') }).optional(),
    cwd: z
      .string({ error: expecting('a directory path relative to the plan file') })
      .min(1, { error: 'expected a directory path relative to the plan file, got an empty string' })
      .optional(),
    env: z.record(envKeySchema, z.string({ error: expecting('a string', quoteHint) }), mapping('a mapping of names to strings')).optional(),
    input: z.string({ error: expecting('a string (written to the unit\'s stdin)', quoteHint) }).optional(),
    maxAttempts: overridableShape.maxAttempts.optional(),
    timeout: durationSchema.optional(),
    stallTimeout: durationSchema.optional(),
    retryBackoff: durationSchema.optional(),
    killGrace: durationSchema.optional(),
    stuckAfter: overridableShape.stuckAfter.optional(),
    protocol: overridableShape.protocol.optional(),
    toolTimeout: durationSchema.optional(),
    permissionDenials: overridableShape.permissionDenials.optional(),
    maxTransientWait: durationSchema.optional(),
    maxCostUsd: usdSchema.optional(),
    initialCommand: z
      .array(z.string({ error: expecting('a string argument', quoteHint) }), {
        error: expecting('a list of strings: the argv of the first turn'),
      })
      .min(1, { error: 'expected a non-empty list: the program, then its arguments; got an empty list' })
      .optional(),
  },
  mapping('a unit: a mapping with at least id and command'),
);

/** Defaults of `workspace:`. */
export const WORKSPACE_DEFAULTS = {
  repo: '.',
  branch: 'statecrew/{milestone}',
  merge: 'merge',
  fixTurns: 0,
  deleteBranch: false,
  author: 'statecrew <statecrew@localhost>',
} as const;

const argvSchema = (example: string) =>
  z
    .array(z.string({ error: expecting('a string argument', quoteHint) }), {
      error: expecting(`a list of strings such as ${example} (argv, never run through a shell)`),
    })
    .min(1, { error: 'expected a non-empty list: the program, then its arguments; got an empty list' });

const mergeModeSchema = z.enum(['merge', 'squash', 'rebase'], { error: expecting('a merge mode: merge, squash or rebase') });
const fixTurnsSchema = z.int({ error: expecting('a number of fix turns (a whole number of at least 0)') }).min(0, {
  error: (issue) => `expected a number of fix turns of at least 0, got ${describeValue(issue.input)}`,
});
const deleteBranchSchema = z.boolean({ error: expecting('true or false') });

/** `workspace:` — every milestone works in a git worktree of `repo` on its own branch, checked and merged into `base`. */
export const workspaceSchema = z.strictObject(
  {
    repo: z
      .string({ error: expecting('a path to a git repository, relative to the plan file') })
      .min(1, { error: 'expected a path to a git repository, got an empty string' })
      .default(WORKSPACE_DEFAULTS.repo),
    base: z
      .string({ error: expecting('a branch name such as main', quoteHint) })
      .min(1, { error: 'expected a branch name such as main, got an empty string' })
      .optional(),
    branch: z
      .string({ error: expecting('a branch name pattern such as "statecrew/{milestone}"') })
      .refine((pattern) => pattern.includes('{milestone}'), {
        error: (issue) => `expected a branch name pattern containing {milestone} (each milestone needs its own branch), got ${describeValue(issue.input)}`,
      })
      .default(WORKSPACE_DEFAULTS.branch),
    check: argvSchema('[npm, test]').optional(),
    merge: mergeModeSchema.default(WORKSPACE_DEFAULTS.merge),
    fixTurns: fixTurnsSchema.default(WORKSPACE_DEFAULTS.fixTurns),
    deleteBranch: deleteBranchSchema.default(WORKSPACE_DEFAULTS.deleteBranch),
    author: z
      .string({ error: expecting('an author such as "Name <email>"') })
      .regex(/^[^<>]+ <[^<>\s]+>$/, { error: (issue) => `expected an author such as "Name <email>", got ${describeValue(issue.input)}` })
      .default(WORKSPACE_DEFAULTS.author),
    worktrees: z
      .string({ error: expecting('a folder path relative to the plan file') })
      .min(1, { error: 'expected a folder path relative to the plan file, got an empty string' })
      .optional(),
  },
  mapping('a mapping of repo, base, branch, check, merge, fixTurns, deleteBranch, author, worktrees'),
);

/** A milestone's `workspace:` — `false` opts out; a mapping overrides the plan's check, merge, fixTurns or deleteBranch. */
export const milestoneWorkspaceSchema = z.union(
  [
    z.literal(false),
    z.strictObject({
      check: argvSchema('[npm, run, test:api]').optional(),
      merge: mergeModeSchema.optional(),
      fixTurns: fixTurnsSchema.optional(),
      deleteBranch: deleteBranchSchema.optional(),
    }),
  ],
  { error: expecting('false, or a mapping of check, merge, fixTurns, deleteBranch') },
);

/** One entry of `milestones:`. */
export const milestoneSchema = z.strictObject(
  {
    id: idSchema('a milestone id'),
    dependsOn: z.array(idSchema('a milestone id'), { error: expecting('a list of milestone ids') }).default([]),
    workspace: milestoneWorkspaceSchema.optional(),
    maxCostUsd: usdSchema.optional(),
    units: z
      .array(unitSchema, { error: expecting('a list of units') })
      .min(1, { error: 'expected at least one unit, got an empty list' }),
  },
  mapping('a milestone: a mapping with id and units'),
);

/** The whole plan document. `store` is relative to the current directory. */
/** One entry of `agents:` — a named agent that units refer to with `agent: <name>`. */
export const agentSchema = z.strictObject(
  {
    command: z
      .array(z.string({ error: expecting('a string argument', quoteHint) }), {
        error: expecting('a list of strings such as [claude, -p, --output-format, stream-json] (argv, never run through a shell)'),
      })
      .min(1, { error: 'expected a non-empty list: the program, then its arguments; got an empty list' }),
    initialCommand: z
      .array(z.string({ error: expecting('a string argument', quoteHint) }), { error: expecting('a list of strings: the argv of the first turn') })
      .min(1, { error: 'expected a non-empty list: the program, then its arguments; got an empty list' })
      .optional(),
    protocol: overridableShape.protocol.optional(),
    env: z.record(envKeySchema, z.string({ error: expecting('a string', quoteHint) }), mapping('a mapping of names to strings')).optional(),
  },
  mapping('an agent: a mapping with at least command'),
);


/** A retention period (`0s` drops at once, `7d`), parsed to milliseconds. */
const retentionPeriodSchema = z.string({ error: expecting('a duration such as 0s, 12h or 7d', unitHint) }).transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === undefined || ms > MAX_RETENTION_MS) {
    ctx.issues.push({ code: 'custom', input: text, message: `expected a duration such as 0s, 12h or 7d, of at most 3650d, got ${describeValue(text)}` });
    return z.NEVER;
  }
  return ms;
});

/** What of finished work a runtime drops (docs/retention.md); absent: nothing is dropped. */
const retentionSchema = z.strictObject(
  {
    journal: retentionPeriodSchema.optional(),
    turnOutput: retentionPeriodSchema.optional(),
    actors: retentionPeriodSchema.optional(),
    every: durationSchema.optional(),
  },
  mapping('a mapping with journal, turnOutput, actors (how long after an actor finished its rows are kept) and every'),
);

/** Events a plan's `notify` entries may name (docs: README, Notifications). */
export const NOTIFY_EVENTS = ['unit.failed', 'unit.stuck', 'milestone.completed', 'milestone.failed', 'budget.exceeded', 'run.finished'] as const;

const webhookUrlSchema = z.string({ error: expecting('an http:// or https:// URL') }).refine(
  (text) => {
    try {
      const url = new URL(text);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      // Not a URL at all: refused below with the same message.
      return false;
    }
  },
  { error: (issue) => `expected an http:// or https:// URL, got ${describeValue(issue.input)}` },
);

/** One notification sink of a plan: a webhook, a command, or both, and the events it gets. */
const notifySchema = z
  .strictObject(
    {
      webhook: webhookUrlSchema.optional(),
      command: z
        .array(z.string({ error: expecting('a string') }), { error: expecting('a command as a list of strings (argv)') })
        .min(1, { error: 'expected a command as a non-empty list of strings (argv), got an empty list' })
        .optional(),
      on: z
        .array(z.enum(NOTIFY_EVENTS, { error: (issue) => `expected one of ${NOTIFY_EVENTS.join(', ')}, got ${describeValue(issue.input)}` }), {
          error: expecting('a list of events'),
        })
        .min(1, { error: `expected at least one event of ${NOTIFY_EVENTS.join(', ')}` })
        .optional(),
      timeout: durationSchema.optional(),
      maxAttempts: positiveIntSchema('a number of attempts', 100).optional(),
    },
    mapping('a notification: a mapping with webhook and/or command, and optional on, timeout, maxAttempts'),
  )
  .refine((entry) => entry.webhook !== undefined || entry.command !== undefined, { error: 'expected webhook or command (or both)' });

export const planDocumentSchema = z.strictObject(
  {
    version: z.literal(1, {
      error: (issue) =>
        issue.input === undefined
          ? 'missing required field; expected version: 1'
          : `expected 1 (the only plan format this statecrew reads), got ${describeValue(issue.input)}`,
    }),
    workers: positiveIntSchema('a number of workers', MAX_WORKERS).default(DEFAULT_WORKERS),
    store: z
      .string({ error: expecting('a file path or a postgres:// URL for the store') })
      .min(1, { error: 'expected a file path or a postgres:// URL for the store, got an empty string' })
      .default(DEFAULT_STORE),
    defaults: defaultsSchema.prefault({}),
    agents: z.record(idSchema('an agent name'), agentSchema, mapping('a mapping of agent names to agents')).optional(),
    workspace: workspaceSchema.optional(),
    maxCostUsd: usdSchema.optional(),
    retention: retentionSchema.optional(),
    notify: z.array(notifySchema, { error: expecting('a list of notifications') }).optional(),
    milestones: z
      .array(milestoneSchema, { error: expecting('a list of milestones') })
      .min(1, { error: 'expected at least one milestone, got an empty list' }),
  },
  mapping('a mapping with version, milestones and optional workers, store, defaults, agents, workspace, maxCostUsd, retention, notify'),
);

/** A plan document after schema validation: defaults of `defaults` applied, durations in ms, paths unresolved. */
export type PlanDocument = z.infer<typeof planDocumentSchema>;

/** Field names accepted by each kind of mapping in a plan, used to suggest fixes for unknown fields. */
export const PLAN_FIELDS = {
  plan: Object.keys(planDocumentSchema.shape),
  defaults: Object.keys(defaultsSchema.shape),
  milestone: Object.keys(milestoneSchema.shape),
  unit: Object.keys(unitSchema.shape),
  agent: Object.keys(agentSchema.shape),
  workspace: Object.keys(workspaceSchema.shape),
  milestoneWorkspace: ['check', 'merge', 'fixTurns', 'deleteBranch'],
  retention: Object.keys(retentionSchema.shape),
  notify: ['webhook', 'command', 'on', 'timeout', 'maxAttempts'],
} as const;
