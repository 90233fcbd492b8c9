import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlanError } from '../core/errors.js';
import { loadPlan, parsePlan, planFingerprint } from '../src/plan/load.js';

let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'statecrew-plan-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Writes `text` as a real plan file under the temp dir and returns its path. */
function writePlan(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

/** Runs `load` and returns the PlanError it throws; fails the test if it throws anything else or nothing. */
function planErrorOf(load: () => unknown): PlanError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    return error as PlanError;
  }
  throw new Error('expected a PlanError, but the plan loaded');
}

const UNIT = '    units:\n      - id: u\n        command: [node, x.mjs]\n';

describe('loadPlan', () => {
  it('resolves defaults, durations and paths when the plan is valid', () => {
    writePlan(
      'valid/plans/plan.yaml',
      `version: 1
workers: 3
store: state/run.db
defaults:
  timeout: 30s
  retryBackoff: 250ms
milestones:
  - id: core
    units:
      - id: core/build
        command: [node, scripts/build.mjs]
        env: { LEVEL: "2" }
        input: hello
      - id: core/test
        command: [node, test.mjs]
        cwd: sub
        maxAttempts: 5
        killGrace: 1h
        stuckAfter: 4
  - id: docs
    dependsOn: [core]
    units:
      - id: docs:render
        command: [echo]
`,
    );
    const cwd = path.join(dir, 'valid');
    const plan = loadPlan('plans/plan.yaml', { cwd });
    const plans = path.join(cwd, 'plans');

    expect(plan.file).toBe(path.join(plans, 'plan.yaml'));
    expect(plan.version).toBe(1);
    expect(plan.workers).toBe(3);
    expect(plan.store).toBe(path.join(cwd, 'state/run.db'));
    expect(plan.milestones.map((m) => [m.id, m.position, m.dependsOn])).toEqual([
      ['core', 0, []],
      ['docs', 1, ['core']],
    ]);
    expect(plan.milestones[0]?.units).toEqual([
      {
        id: 'core/build',
        milestoneId: 'core',
        position: 0,
        command: ['node', 'scripts/build.mjs'],
        cwd: plans,
        env: { LEVEL: '2' },
        input: 'hello',
        maxAttempts: 3,
        timeoutMs: 30_000,
        stallTimeoutMs: 120_000,
        retryBackoffMs: 250,
        killGraceMs: 5_000,
        stuckAfter: 3,
        protocol: 'text',
        toolTimeoutMs: 1_800_000,
        permissionDenials: 'fail',
        maxTransientWaitMs: 7_200_000,
        agent: 'node',
        initialCommand: null,
      },
      {
        id: 'core/test',
        milestoneId: 'core',
        position: 1,
        command: ['node', 'test.mjs'],
        cwd: path.join(plans, 'sub'),
        env: {},
        input: null,
        maxAttempts: 5,
        timeoutMs: 30_000,
        stallTimeoutMs: 120_000,
        retryBackoffMs: 250,
        killGraceMs: 3_600_000,
        stuckAfter: 4,
        protocol: 'text',
        toolTimeoutMs: 1_800_000,
        permissionDenials: 'fail',
        maxTransientWaitMs: 7_200_000,
        agent: 'node',
        initialCommand: null,
      },
    ]);
    expect(plan.milestones[1]?.units[0]).toMatchObject({ id: 'docs:render', milestoneId: 'docs', position: 0, timeoutMs: 30_000 });
  });

  it('applies the built-in defaults when the plan names no workers, store or defaults', () => {
    const file = writePlan('minimal.yaml', `version: 1\nmilestones:\n  - id: m\n${UNIT}`);
    const plan = loadPlan(file, { cwd: '/somewhere/else' });

    expect(plan.workers).toBe(2);
    expect(plan.store).toBe('/somewhere/else/.statecrew/statecrew.db');
    expect(plan.milestones[0]?.units[0]).toMatchObject({
      cwd: dir,
      maxAttempts: 3,
      timeoutMs: 600_000,
      stallTimeoutMs: 120_000,
      retryBackoffMs: 1_000,
      killGraceMs: 5_000,
      stuckAfter: 3,
      toolTimeoutMs: 1_800_000,
      permissionDenials: 'fail',
    });
  });

  // Each plan below is written as a real file after `version: 1`; the issue at `path` must contain `message`.
  const ok = 'units: [{ id: u, command: [x] }]';
  it.each([
    {
      when: 'a milestone has no id',
      plan: `milestones: [{ ${ok} }]`,
      path: 'milestones[0].id', message: 'missing required field; expected a milestone id such as "core"',
    },
    {
      when: 'a unit has no id',
      plan: 'milestones: [{ id: m, units: [{ command: [x] }] }]',
      path: 'milestones[0].units[0].id', message: 'missing required field; expected a unit id such as "core"',
    },
    {
      when: 'two milestones share an id',
      plan: 'milestones: [{ id: core, units: [{ id: u, command: [x] }] }, { id: core, units: [{ id: v, command: [x] }] }]',
      path: 'milestones[1].id', message: 'duplicate milestone id "core" (first at milestones[0])',
    },
    {
      when: 'two milestones hold the same unit id',
      plan: 'milestones: [{ id: core, units: [{ id: core/build, command: [x] }] }, { id: docs, units: [{ id: core/build, command: [x] }] }]',
      path: 'milestones[1].units[0].id', message: 'duplicate unit id "core/build" (first at milestones[0].units[0])',
    },
    {
      when: 'a dependency names no milestone',
      plan: 'milestones: [{ id: core, units: [{ id: u, command: [x] }] }, { id: docs, dependsOn: [nope], units: [{ id: v, command: [x] }] }]',
      path: 'milestones[1].dependsOn[0]', message: 'unknown milestone "nope"; known: core, docs',
    },
    {
      when: 'three milestones depend on each other in a cycle',
      plan: `milestones:
  - { id: a, dependsOn: [b], units: [{ id: a1, command: [x] }] }
  - { id: b, dependsOn: [c], units: [{ id: b1, command: [x] }] }
  - { id: c, dependsOn: [a], units: [{ id: c1, command: [x] }] }`,
      path: 'milestones[0].dependsOn[0]', message: 'dependency cycle: a -> b -> c -> a',
    },
    {
      when: 'a unit names an agent that is not defined',
      plan: 'agents: { claude: { command: [claude] } }\nmilestones: [{ id: m, units: [{ id: u, agent: codex }] }]',
      path: 'milestones[0].units[0].agent', message: 'unknown agent "codex"; known: claude',
    },
    {
      when: 'a unit gives both a command and an agent',
      plan: 'agents: { claude: { command: [claude] } }\nmilestones: [{ id: m, units: [{ id: u, agent: claude, command: [x] }] }]',
      path: 'milestones[0].units[0].agent', message: 'expected either command or agent, not both',
    },
    {
      when: 'stuckAfter is below 2',
      plan: `defaults: { stuckAfter: 1 }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'defaults.stuckAfter', message: 'expected a number of failures in a row of at least 2, got number 1',
    },
    {
      when: 'a milestone depends on itself',
      plan: `milestones: [{ id: core, dependsOn: [core], ${ok} }]`,
      path: 'milestones[0].dependsOn[0]', message: 'milestone "core" depends on itself',
    },
    {
      when: 'a duration is not one',
      plan: `defaults: { timeout: 10 minutes }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'defaults.timeout', message: 'expected a duration such as 500ms, 30s, 2m or 1h, got string "10 minutes"',
    },
    {
      when: 'a duration is zero',
      plan: 'milestones: [{ id: m, units: [{ id: u, command: [x], stallTimeout: 0s }] }]',
      path: 'milestones[0].units[0].stallTimeout', message: 'expected a duration greater than 0, got string "0s"',
    },
    {
      when: "a duration exceeds Node's timer limit",
      plan: 'milestones: [{ id: m, units: [{ id: u, command: [x], timeout: 1000h }] }]',
      path: 'milestones[0].units[0].timeout', message: 'expected a duration of at most 596h',
    },
    {
      when: 'a command is an empty list',
      plan: 'milestones: [{ id: m, units: [{ id: u, command: [] }] }]',
      path: 'milestones[0].units[0].command', message: 'expected a non-empty list: the program, then its arguments; got an empty list',
    },
    {
      when: 'a command is a string',
      plan: 'milestones: [{ id: m, units: [{ id: u, command: node build.mjs }] }]',
      path: 'milestones[0].units[0].command', message: 'expected a list of strings such as [node, build.mjs] (argv, never run through a shell), got string "node build.mjs"',
    },
    {
      when: 'a command has an empty program',
      plan: 'milestones: [{ id: m, units: [{ id: u, command: ["", x] }] }]',
      path: 'milestones[0].units[0].command[0]', message: 'expected a program name, got an empty string',
    },
    {
      when: 'workers is a word',
      plan: `workers: two\nmilestones: [{ id: m, ${ok} }]`,
      path: 'workers', message: 'expected a number of workers (a whole number of at least 1), got string "two"',
    },
    {
      when: 'workers exceeds 512',
      plan: `workers: 513\nmilestones: [{ id: m, ${ok} }]`,
      path: 'workers', message: 'expected a number of workers of at most 512, got number 513',
    },
    {
      when: 'an env value is a number',
      plan: 'milestones: [{ id: m, units: [{ id: u, command: [x], env: { LEVEL: 2 } }] }]',
      path: 'milestones[0].units[0].env.LEVEL', message: 'expected a string, got number 2 (quote it: "2")',
    },
    {
      when: 'a notify webhook is not an http URL',
      plan: `notify: [{ webhook: "ftp://hooks.example" }]\nmilestones: [{ id: m, ${ok} }]`,
      path: 'notify[0].webhook', message: 'expected an http:// or https:// URL, got string "ftp://hooks.example"',
    },
    {
      when: 'a notify entry names an unknown event',
      plan: `notify: [{ command: [notify], on: [unit.exploded] }]\nmilestones: [{ id: m, ${ok} }]`,
      path: 'notify[0].on[0]', message: 'expected one of unit.failed, unit.stuck, milestone.completed, milestone.failed, budget.exceeded, run.finished, got string "unit.exploded"',
    },
    {
      when: 'a notify entry has neither webhook nor command',
      plan: `notify: [{ on: [run.finished] }]\nmilestones: [{ id: m, ${ok} }]`,
      path: 'notify[0]', message: 'expected webhook or command (or both)',
    },
    {
      when: 'the top level has an unknown field',
      plan: `retries: 3\nmilestones: [{ id: m, ${ok} }]`,
      path: 'retries', message: 'unknown field "retries"; expected one of: version, workers, store, defaults, agents, workspace, maxCostUsd, retention, notify, milestones',
    },
    {
      when: 'a retention period is not a period',
      plan: `retention: { journal: 7 days }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'retention.journal', message: 'expected a duration such as 0s, 12h or 7d, of at most 3650d, got string "7 days"',
    },
    {
      when: 'a retention field is misspelt',
      plan: `retention: { journals: 7d }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'retention.journals', message: 'unknown field "journals" (did you mean "journal"?)',
    },
    {
      when: 'a workspace branch pattern has no {milestone}',
      plan: `workspace: { branch: work }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'workspace.branch', message: 'expected a branch name pattern containing {milestone} (each milestone needs its own branch), got string "work"',
    },
    {
      when: 'a workspace field is misspelt',
      plan: `workspace: { fixturns: 1 }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'workspace.fixturns', message: 'unknown field "fixturns" (did you mean "fixTurns"?)',
    },
    {
      when: 'a milestone overrides a workspace the plan does not have',
      plan: `milestones: [{ id: m, workspace: { fixTurns: 1 }, ${ok} }]`,
      path: 'milestones[0].workspace', message: 'no workspace to override: add a top-level workspace (for example workspace: { repo: . })',
    },
    {
      when: 'a unit of a milestone with a workspace leaves its worktree',
      plan: 'workspace: {}\nmilestones: [{ id: m, units: [{ id: u, command: [x], cwd: ../elsewhere }] }]',
      path: 'milestones[0].units[0].cwd', message: 'expected a folder inside the milestone\'s worktree (relative, without leading ..), got "../elsewhere"',
    },
    {
      when: 'the merge mode is unknown',
      plan: `workspace: { merge: octopus }\nmilestones: [{ id: m, ${ok} }]`,
      path: 'workspace.merge', message: 'expected a merge mode: merge, squash or rebase, got string "octopus"',
    },
    {
      when: 'a unit field is misspelt',
      plan: 'milestones: [{ id: m, units: [{ id: u, comand: [x] }] }]',
      path: 'milestones[0].units[0].comand', message: 'unknown field "comand" (did you mean "command"?)',
    },
    {
      when: 'an id has a space',
      plan: `milestones: [{ id: my milestone, ${ok} }]`,
      path: 'milestones[0].id', message: 'expected a milestone id made of letters, digits, ".", "_", "-", "/" or ":"',
    },
  ])('throws a PlanError when $when', ({ when, plan, path: issuePath, message }) => {
    const file = writePlan(`bad/${when.replace(/\W+/g, '-')}.yaml`, `version: 1\n${plan}\n`);
    const error = planErrorOf(() => loadPlan(file, { cwd: dir }));

    expect(error.file).toBe(file);
    expect(error.issues).toContainEqual({ path: issuePath, message: expect.stringContaining(message) as unknown });
    expect(error.message).toContain(`${issuePath}: `);
  });

  // Whole-document failures, written verbatim.
  it.each([
    { when: 'the version is 2', text: 'version: 2\nmilestones: []\n', path: 'version', message: 'expected 1 (the only plan format this statecrew reads), got number 2' },
    { when: 'the version is missing', text: `milestones: [{ id: m, ${ok} }]\n`, path: 'version', message: 'missing required field; expected version: 1' },
    { when: 'the text is not YAML', text: 'version: 1\nmilestones: [\n  - id: m\nunits: ]\n', path: '', message: 'YAML syntax error at line 3, column 3: ' },
    { when: 'a key is repeated', text: 'version: 1\nversion: 1\n', path: '', message: 'YAML syntax error at line 2, column 1: Map keys must be unique' },
    { when: 'the document is a list', text: '- version: 1\n- milestones: []\n', path: '', message: 'expected a mapping with version, milestones and optional workers, store, defaults, agents, workspace, maxCostUsd, retention, notify, got a list' },
    { when: 'the file is empty', text: '', path: '', message: 'the plan is empty; expected a mapping with version and milestones' },
    { when: 'the file holds only a comment', text: '# nothing yet\n', path: '', message: 'the plan is empty' },
  ])('throws a PlanError when $when', ({ when, text, path: issuePath, message }) => {
    const file = writePlan(`bad/${when.replace(/\W+/g, '-')}.yaml`, text);
    const error = planErrorOf(() => loadPlan(file, { cwd: dir }));

    expect(error.issues).toContainEqual({ path: issuePath, message: expect.stringContaining(message) as unknown });
  });

  it('throws a PlanError naming the OS reason when the file cannot be read', () => {
    const error = planErrorOf(() => loadPlan('missing/plan.yaml', { cwd: dir }));

    expect(error.file).toBe(path.join(dir, 'missing/plan.yaml'));
    expect(error.issues).toEqual([{ path: '', message: expect.stringContaining('cannot read file: ENOENT: no such file or directory') as unknown }]);
    expect(error.cause).toMatchObject({ code: 'ENOENT' });
  });

  it('lists every issue at once when a plan has several', () => {
    const file = writePlan(
      'bad/several.yaml',
      `version: 1
workers: 0
milestones:
  - id: a
    dependsOn: [ghost]
    units:
      - { id: u, comand: [x], timeout: soon }
  - { id: a, units: [{ id: u, command: [x] }] }
`,
    );
    const error = planErrorOf(() => loadPlan(file, { cwd: dir }));

    expect(error.issues.map((issue) => issue.path).sort()).toEqual([
      'milestones[0].dependsOn[0]',
      'milestones[0].units[0].comand',
      'milestones[0].units[0].command',
      'milestones[0].units[0].timeout',
      'milestones[1].id',
      'milestones[1].units[0].id',
      'workers',
    ]);
  });
});

describe('parsePlan', () => {
  it('makes the file absolute against cwd and resolves unit cwd against its folder', () => {
    const plan = parsePlan(`version: 1\nmilestones:\n  - id: m\n${UNIT}`, { file: 'plans/p.yaml', cwd: '/repo' });

    expect(plan.file).toBe('/repo/plans/p.yaml');
    expect(plan.milestones[0]?.units[0]?.cwd).toBe('/repo/plans');
  });
});

describe('parsePlan with a retention', () => {
  it('reads each period (0s drops at once, days allowed) and how often to compact, one minute by default', () => {
    const plan = parsePlan('version: 1\nretention: { journal: 0s, turnOutput: 12h, actors: 30d }\nmilestones: [{ id: m, units: [{ id: u, command: [x] }] }]', { file: 'plan.yaml', cwd: '/tmp' });
    expect(plan.retention).toEqual({ journalMs: 0, turnOutputMs: 12 * 3_600_000, actorsMs: 30 * 86_400_000, everyMs: 60_000 });
    const often = parsePlan('version: 1\nretention: { journal: 7d, every: 10s }\nmilestones: [{ id: m, units: [{ id: u, command: [x] }] }]', { file: 'plan.yaml', cwd: '/tmp' });
    expect(often.retention).toEqual({ journalMs: 7 * 86_400_000, everyMs: 10_000 });
    expect(parsePlan('version: 1\nmilestones: [{ id: m, units: [{ id: u, command: [x] }] }]', { file: 'plan.yaml', cwd: '/tmp' }).retention).toBeUndefined();
  });
});

describe('planFingerprint', () => {
  const base = `version: 1\nmilestones:\n  - id: m\n    units:\n      - id: u\n        command: [node, x.mjs]\n        env: { A: "1", B: "2" }\n`;
  const fingerprint = (text: string, workers = '') =>
    planFingerprint(parsePlan(text.replace('version: 1\n', `version: 1\n${workers}`), { file: 'p.yaml', cwd: '/repo' }));

  it('is a sha256 hex digest that ignores key order, workers and store', () => {
    const reordered = `milestones:\n  - units:\n      - env: { B: "2", A: "1" }\n        command: [node, x.mjs]\n        id: u\n    id: m\nversion: 1\n`;

    expect(fingerprint(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(fingerprint(reordered)).toBe(fingerprint(base));
    expect(fingerprint(base, 'workers: 5\nstore: other.db\n')).toBe(fingerprint(base));
  });

  it('changes when a unit changes', () => {
    expect(fingerprint(base.replace('x.mjs', 'y.mjs'))).not.toBe(fingerprint(base));
    expect(fingerprint(base.replace('env:', 'timeout: 5s\n        env:'))).not.toBe(fingerprint(base));
  });

  it('resolves a unit that refers to a named agent: its command, initial command, protocol and environment', () => {
    const file = writePlan(
      'agents.yaml',
      `version: 1
agents:
  claude:
    command: [claude, -p, --output-format, stream-json, --verbose, --resume, "{sessionId}"]
    initialCommand: [claude, -p, --output-format, stream-json, --verbose]
    protocol: stream-json
    env: { MODEL: sonnet, LEVEL: "1" }
milestones:
  - id: m
    units:
      - { id: m/fix, agent: claude, input: "fix it", env: { LEVEL: "2" } }
`,
    );
    const unit = loadPlan(file, { cwd: dir }).milestones[0]?.units[0];
    expect(unit).toMatchObject({
      command: ['claude', '-p', '--output-format', 'stream-json', '--verbose', '--resume', '{sessionId}'],
      initialCommand: ['claude', '-p', '--output-format', 'stream-json', '--verbose'],
      protocol: 'stream-json',
      env: { MODEL: 'sonnet', LEVEL: '2' },
      input: 'fix it',
    });
  });
});

describe('parsePlan with a workspace', () => {
  it('gives every milestone its workspace with its overrides, appends its check as a unit, and lets a milestone opt out', () => {
    const text = [
      'version: 1',
      'workspace: { repo: repo, check: [npm, test], fixTurns: 1, author: "Bot <bot@example.invalid>" }',
      'milestones:',
      '  - { id: api, workspace: { check: [npm, run, test:api], merge: squash }, units: [{ id: api/u, command: [x], cwd: pkg }] }',
      '  - { id: web, units: [{ id: web/u, command: [x] }] }',
      '  - { id: ops, workspace: false, units: [{ id: ops/u, command: [x] }] }',
    ].join('\n');
    const plan = parsePlan(text, { file: '/work/plan.yaml', cwd: '/work' });
    const [api, web, ops] = plan.milestones;
    expect(api?.workspace).toEqual({
      repo: '/work/repo',
      base: null,
      branch: 'statecrew/api',
      check: ['npm', 'run', 'test:api'],
      merge: 'squash',
      fixTurns: 1,
      deleteBranch: false,
      author: { name: 'Bot', email: 'bot@example.invalid' },
      root: null,
    });
    expect(api?.units.map((u) => [u.id, u.role ?? 'work', u.workspaceCwd, u.maxAttempts])).toEqual([
      ['api/u', 'work', 'pkg', 3],
      ['api#check', 'check', '.', 2],
    ]);
    expect(api?.units[1]?.command).toEqual(['npm', 'run', 'test:api']);
    expect(web?.workspace?.check).toEqual(['npm', 'test']);
    expect(ops?.workspace).toBeUndefined();
    expect(ops?.units.map((u) => u.id)).toEqual(['ops/u']);
  });
});
