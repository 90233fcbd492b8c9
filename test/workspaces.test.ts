/**
 * Workspaces end to end: `statecrew run` as a child process on plans with a `workspace`, real git
 * repositories in temp folders, fixture agents (node scripts) that edit files in their worktree.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStoreAt } from '../persistence/openStore.js';
import { startInspector } from '../src/inspector/server.js';
import { CLI, fixtureCommand, killRunningClis, runCli, startCli, writePlan } from './helpers/cli.js';
import { createTestRepo, git, type TestRepo } from './helpers/gitRepo.js';

const repos: TestRepo[] = [];
afterEach(async () => {
  await killRunningClis();
  for (const repo of repos.splice(0)) repo.cleanup();
});

function repoWith(files?: Record<string, string>): TestRepo {
  const t = createTestRepo(files);
  repos.push(t);
  return t;
}

const agent = (...args: string[]) => fixtureCommand('agent-edit.mjs', ...args);
const check = (file: string, text: string) => fixtureCommand('check-contains.mjs', file, text);

interface StatusJson {
  milestones: {
    id: string;
    state: string;
    workspace: { path: string; branch: string; state: string; baseCommit: string; headCommit: string; mergedCommit: string | null; reason: string | null } | null;
  }[];
  units: { id: string; state: string; attempts: number; turns: number }[];
}

async function statusOf(dir: string): Promise<StatusJson> {
  const result = await runCli(dir, 'status', '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as StatusJson;
}

/** Runs the CLI in `cwd` with `env` over this process's environment. */
function runCliWith(cwd: string, env: Record<string, string>, ...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env } }, (error, _stdout, stderr) =>
      resolve({ code: error === null ? 0 : (error.code as number | null), stderr }),
    );
  });
}

/** Runs `node <script> ...args` in `cwd`. */
function runNode(cwd: string, script: string, ...args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { cwd }, (error, _stdout, stderr) => resolve({ code: error === null ? 0 : (error.code as number | null), stderr }));
  });
}

function worktreesLeft(t: TestRepo): string[] {
  return git(t.repo, 'worktree', 'list', '--porcelain')
    .split('\n')
    .filter((line) => line.startsWith('worktree '))
    .map((line) => line.slice('worktree '.length))
    .filter((worktree) => worktree !== t.repo);
}

describe('statecrew run with workspaces', () => {
  it('runs milestones in parallel, each in its own worktree never seeing the other\'s files, and a dependent one on their merged work', async () => {
    const t = repoWith();
    const marks = path.join(t.dir, 'marks');
    fs.mkdirSync(marks);
    writePlan(t.dir, {
      version: 1,
      workers: 2,
      workspace: { repo: 'repo' },
      milestones: [
        {
          id: 'api',
          units: [{ id: 'api-1', command: agent('--write', 'api.txt=api', '--touch', `${marks}/api`, '--wait-for', `${marks}/web`, '--expect-absent', 'web.txt') }],
        },
        {
          id: 'web',
          units: [{ id: 'web-1', command: agent('--write', 'web.txt=web', '--touch', `${marks}/web`, '--wait-for', `${marks}/api`, '--expect-absent', 'api.txt') }],
        },
        {
          id: 'docs',
          dependsOn: ['api', 'web'],
          units: [{ id: 'docs-1', command: agent('--expect-present', 'api.txt', '--expect-present', 'web.txt', '--write', 'docs.txt=docs') }],
        },
      ],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout.match(/merged +statecrew\/(api|web|docs) into main as [0-9a-f]{10}\n/g)).toHaveLength(3);
    for (const file of ['api.txt', 'web.txt', 'docs.txt']) expect(git(t.repo, 'show', `main:${file}`)).not.toBe('');
    // Each unit's work is one commit on its milestone's branch, merged into main with a merge commit.
    expect(git(t.repo, 'log', '--format=%s', 'statecrew/api', '-1')).toBe('statecrew: api-1 (attempt 1)');
    expect(git(t.repo, 'log', '--format=%s', 'main', '--merges')).toMatch(/statecrew: merge docs[\s\S]*statecrew: merge (api|web)/);
    const status = await statusOf(t.dir);
    expect(status.milestones.map((m) => [m.id, m.state, m.workspace?.state])).toEqual([
      ['api', 'completed', 'removed'],
      ['web', 'completed', 'removed'],
      ['docs', 'completed', 'removed'],
    ]);
    const docs = status.milestones[2]?.workspace;
    // docs started from main once api and web were merged: its base commit contains both.
    expect(git(t.repo, 'show', `${docs?.baseCommit ?? ''}:api.txt`)).toBe('api');
    expect(git(t.repo, 'show', `${docs?.baseCommit ?? ''}:web.txt`)).toBe('web');
    expect(docs?.mergedCommit).toBe(git(t.repo, 'rev-parse', 'main'));
    expect(worktreesLeft(t)).toEqual([]);
    // The inspector lists workspace and merge-lease actors like the others, with their statechart.
    const inspector = await startInspector({ store: path.join(t.dir, '.statecrew', 'statecrew.db') });
    try {
      const at = (route: string) => fetch(`http://127.0.0.1:${inspector.port}${route}${route.includes('?') ? '&' : '?'}token=${inspector.token}`);
      const listed = (await (await at('/api/actors')).json()) as { actors: { id: string; kind: string; state: string; machineId: string }[]; byKind: Record<string, number> };
      expect(listed.byKind.workspace).toBe(3);
      expect(listed.actors.filter((a) => a.kind === 'workspace').map((a) => [a.state, a.machineId])).toEqual(Array(3).fill(['removed', 'statecrew.workspace']));
      expect(listed.actors.filter((a) => a.kind === 'lease' && a.id.startsWith('merge:')).map((a) => a.state)).toEqual(['released', 'released', 'released']);
      const chart = await at('/api/charts/statecrew.workspace.svg');
      expect(chart.status).toBe(200);
      expect(await chart.text()).toContain('fixing_conflict');
      // The fleet view shows each milestone's workspace with its branch and merged commit.
      const fleet = (await (await at('/api/fleet')).json()) as { plan: { milestones: { id: string; state: string; workspace: { state: string; branch: string; mergedCommit: string | null } | null }[] } };
      expect(fleet.plan.milestones.map((m) => [m.id, m.state, m.workspace?.state, m.workspace?.branch])).toEqual([
        ['api', 'completed', 'removed', 'statecrew/api'],
        ['web', 'completed', 'removed', 'statecrew/web'],
        ['docs', 'completed', 'removed', 'statecrew/docs'],
      ]);
      expect(fleet.plan.milestones[2]?.workspace?.mergedCommit).toBe(git(t.repo, 'rev-parse', 'main'));
    } finally {
      await inspector.close();
    }
    // The user's checkout of main followed the merges and is clean.
    expect(git(t.repo, 'status', '--porcelain')).toBe('');
    expect(t.read('docs.txt')).toBe('docs\n');
  });

  it('runs a failing check, repairs it with a fix turn given the check\'s output, checks again, then merges', async () => {
    const t = repoWith();
    writePlan(t.dir, {
      version: 1,
      workspace: { repo: 'repo', fixTurns: 1, check: check('app.txt', 'fixed'), deleteBranch: true },
      milestones: [{ id: 'app', units: [{ id: 'app-1', command: agent('--write', 'app.txt=draft', '--fix', 'app.txt=fixed') }] }],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/failed +app#check attempt 1: exit code 1: FAIL: app.txt does not contain "fixed"/);
    expect(git(t.repo, 'show', 'main:app.txt')).toBe('fixed');
    expect(git(t.repo, 'log', '--format=%s', 'main^2', '-2').split('\n')).toEqual(['statecrew: app-1 (attempt 1, fix of the failed check)', 'statecrew: app-1 (attempt 1)']);
    // deleteBranch: the branch is gone once merged; its commits are on main.
    expect(git(t.repo, 'branch', '--list', 'statecrew/app')).toBe('');
    const status = await statusOf(t.dir);
    // app-1: its own turn and one fix turn, each its turn's first attempt; the check: failed once, then passed.
    expect(status.units.map((u) => [u.id, u.state, u.attempts, u.turns])).toEqual([
      ['app-1', 'completed', 1, 2],
      ['app#check', 'completed', 2, 2],
    ]);
  });

  it('fails the milestone with the check\'s last lines when the check fails and no fix turn is left, keeping its branch', async () => {
    const t = repoWith();
    writePlan(t.dir, {
      version: 1,
      workspace: { repo: 'repo', check: check('app.txt', 'fixed') },
      milestones: [{ id: 'app', units: [{ id: 'app-1', command: agent('--write', 'app.txt=draft') }] }],
    });
    const main = git(t.repo, 'rev-parse', 'main');
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/check +app failed, no fix turn left; statecrew\/app is kept: FAIL: app.txt does not contain "fixed"/);
    const status = await statusOf(t.dir);
    expect(status.milestones[0]).toMatchObject({ state: 'failed', workspace: { state: 'check_failed' } });
    expect(status.milestones[0]?.workspace?.reason).toContain('FAIL: app.txt does not contain "fixed"');
    expect(git(t.repo, 'rev-parse', 'main')).toBe(main);
    expect(git(t.repo, 'show', 'statecrew/app:app.txt')).toBe('draft');
  });

  it('saves a failed attempt\'s changes on a side ref and resets the worktree before the retry', async () => {
    const t = repoWith();
    writePlan(t.dir, {
      version: 1,
      defaults: { retryBackoff: '10ms' },
      workspace: { repo: 'repo' },
      milestones: [
        { id: 'app', units: [{ id: 'app-1', command: agent('--write', `junk-${'x'}.txt=junk`, '--fail-first', path.join(t.dir, 'first'), '--write', 'app.txt=done') }] },
      ],
    });
    // The first attempt writes junk-x.txt and fails; the retry finds a clean worktree. The retry
    // writes junk-x.txt again, so its presence in the commit says nothing: check the side ref instead.
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const refs = git(t.repo, 'for-each-ref', '--format=%(refname)', 'refs/statecrew/attempts/').split('\n');
    expect(refs).toEqual(['refs/statecrew/attempts/statecrew_app/app-1_1']);
    expect(git(t.repo, 'show', 'refs/statecrew/attempts/statecrew_app/app-1_1:junk-x.txt')).toBe('junk');
    expect(git(t.repo, 'show', 'main:app.txt')).toBe('done');
  });

  it('gives a conflicting milestone a fix turn on the conflict, then lands both', async () => {
    const t = repoWith({ 'shared.txt': 'base\n' });
    const marks = path.join(t.dir, 'marks');
    fs.mkdirSync(marks);
    writePlan(t.dir, {
      version: 1,
      workers: 2,
      workspace: { repo: 'repo', fixTurns: 1 },
      milestones: [
        { id: 'a', units: [{ id: 'a-1', command: agent('--write', 'shared.txt=from a', '--touch', `${marks}/a`, '--wait-for', `${marks}/b`, '--resolve') }] },
        { id: 'b', units: [{ id: 'b-1', command: agent('--write', 'shared.txt=from b', '--touch', `${marks}/b`, '--wait-for', `${marks}/a`, '--resolve') }] },
      ],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const shared = git(t.repo, 'show', 'main:shared.txt');
    expect(shared).toContain('from a');
    expect(shared).toContain('from b');
    expect(shared).not.toContain('<<<<<<<');
    const status = await statusOf(t.dir);
    expect(status.milestones.map((m) => m.state)).toEqual(['completed', 'completed']);
  });

  it('fails a conflicting milestone with the conflicting files when no fix turn is left, keeping its branch', async () => {
    const t = repoWith({ 'shared.txt': 'base\n' });
    const marks = path.join(t.dir, 'marks');
    fs.mkdirSync(marks);
    writePlan(t.dir, {
      version: 1,
      workers: 2,
      workspace: { repo: 'repo' },
      milestones: [
        { id: 'a', units: [{ id: 'a-1', command: agent('--write', 'shared.txt=from a', '--touch', `${marks}/a`, '--wait-for', `${marks}/b`) }] },
        { id: 'b', units: [{ id: 'b-1', command: agent('--write', 'shared.txt=from b', '--touch', `${marks}/b`, '--wait-for', `${marks}/a`) }] },
      ],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code).toBe(1);
    const status = await statusOf(t.dir);
    const states = status.milestones.map((m) => m.state).sort();
    expect(states).toEqual(['completed', 'failed']);
    const loser = status.milestones.find((m) => m.state === 'failed');
    expect(loser?.workspace).toMatchObject({ state: 'conflict', reason: 'merge conflict in shared.txt' });
    expect(run.stdout).toMatch(/conflict +statecrew\/[ab]: merge conflict in shared.txt; the branch is kept/);
    expect(git(t.repo, 'show', `${loser?.workspace?.branch ?? ''}:shared.txt`)).toMatch(/^from [ab]$/);
    expect(worktreesLeft(t).length).toBeLessThanOrEqual(1);
  });

  it('serializes the merges of two runtimes into one branch: one at a time under the merge lease, all land, the ref moving by compare-and-swap', async () => {
    const t = repoWith();
    const marks = path.join(t.dir, 'marks');
    fs.mkdirSync(marks);
    const ids = ['m1', 'm2', 'm3', 'm4'];
    // Every unit waits until all four run, so the four merges are wanted at the same moment.
    const waits = ids.flatMap((id) => ['--wait-for', `${marks}/${id}`]);
    writePlan(t.dir, {
      version: 1,
      workers: 2,
      workspace: { repo: 'repo' },
      milestones: ids.map((id) => ({ id, units: [{ id: `${id}-1`, command: agent('--write', `${id}.txt=${id}`, '--touch', `${marks}/${id}`, ...waits) }] })),
    });
    const first = startCli(t.dir, ['run', 'plan.yaml']);
    await first.waitForLine(/start/);
    const second = startCli(t.dir, ['run', 'plan.yaml']);
    const [a, b] = await Promise.all([first.done, second.done]);
    expect(a.code, a.stdout + a.stderr).toBe(0);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    for (const id of ids) expect(git(t.repo, 'show', `main:${id}.txt`)).toBe(id);

    const store = openStoreAt(path.join(t.dir, '.statecrew', 'statecrew.db'), { readonly: true });
    try {
      const mergeLeases = (await store.listActors()).filter((actor) => actor.kind === 'lease' && actor.id.startsWith('merge:'));
      // Both runtimes merged: each held the merge lease at least once.
      expect(new Set(mergeLeases.map((lease) => lease.owner)).size).toBe(2);
      const held: { id: string; from: number; to: number; token: number }[] = [];
      for (const lease of mergeLeases) {
        const rows = await store.journal(lease.id);
        const grant = rows.find((row) => row.toState === 'held');
        if (grant === undefined) continue;
        const end = rows.find((row) => row.seq > grant.seq && row.toState !== 'held');
        held.push({ id: lease.id, from: grant.at, to: end?.at ?? Infinity, token: (JSON.parse(grant.snapshot) as { context: { fencingToken: number } }).context.fencingToken });
      }
      held.sort((x, y) => x.from - y.from);
      expect(held.length).toBeGreaterThanOrEqual(ids.length);
      for (let i = 1; i < held.length; i++) {
        const [before, after] = [held[i - 1], held[i]];
        expect(after?.from, `${after?.id} was granted while ${before?.id} still held it`).toBeGreaterThanOrEqual(before?.to ?? Infinity);
        expect(after?.token).toBeGreaterThan(before?.token ?? Infinity);
      }
    } finally {
      await store.close();
    }
    // The base moved four times, each move starting from the one before (compare-and-swap).
    const moves = git(t.repo, 'reflog', 'show', '--format=%H %gs', 'refs/heads/main').split('\n').reverse().slice(1);
    expect(moves).toHaveLength(ids.length);
    for (let i = 1; i < moves.length; i++) {
      expect(git(t.repo, 'rev-parse', `${moves[i]?.slice(0, 40) ?? ''}^1`)).toBe(moves[i - 1]?.slice(0, 40));
    }
  });

  it('leaves the uncommitted changes of the user\'s checkout of the base untouched', async () => {
    const t = repoWith({ 'notes.txt': 'committed\n' });
    t.write('notes.txt', 'my uncommitted edit\n');
    t.write('scratch.txt', 'untracked\n');
    writePlan(t.dir, {
      version: 1,
      workspace: { repo: 'repo' },
      milestones: [{ id: 'app', units: [{ id: 'app-1', command: agent('--write', 'app.txt=app', '--expect-absent', 'scratch.txt') }] }],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(t.read('notes.txt')).toBe('my uncommitted edit\n');
    expect(t.read('scratch.txt')).toBe('untracked\n');
    expect(t.read('app.txt')).toBe('app\n');
    expect(git(t.repo, 'show', 'main:notes.txt')).toBe('committed');
    expect(git(t.repo, 'diff', '--name-only')).toBe('notes.txt');
    expect(git(t.repo, 'diff', '--cached', '--name-only')).toBe('');
    expect(git(t.repo, 'ls-files', '--others', '--exclude-standard')).toBe('scratch.txt');
  });

  it('has doctor report orphan worktrees and branches, and doctor --fix remove them, keeping a failed milestone\'s for a person', async () => {
    const t = repoWith();
    writePlan(t.dir, {
      version: 1,
      workspace: { repo: 'repo', check: check('never.txt', 'x') },
      milestones: [
        { id: 'ok', workspace: { check: check('ok.txt', 'ok') }, units: [{ id: 'ok-1', command: agent('--write', 'ok.txt=ok') }] },
        { id: 'bad', units: [{ id: 'bad-1', command: agent('--write', 'bad.txt=bad') }] },
      ],
    });
    const run = await runCli(t.dir, 'run', 'plan.yaml');
    expect(run.code).toBe(1);
    const root = path.join(t.dir, '.statecrew', 'worktrees');
    // Leftovers as a crash or a person could leave them: a worktree of a milestone not in the plan,
    // a temporary merge worktree, a stray folder, and a branch of an unknown milestone.
    git(t.repo, 'worktree', 'add', '-q', '-b', 'statecrew/gone', path.join(root, 'gone'), 'main');
    git(t.repo, 'worktree', 'add', '-q', '--detach', path.join(root, '.merge', 'ok-7'), 'main');
    fs.mkdirSync(path.join(root, 'stray'));
    git(t.repo, 'branch', 'statecrew/old', 'main');
    const doctor = await runCli(t.dir, 'doctor');
    expect(doctor.code).toBe(1);
    for (const subject of [path.join(root, 'gone'), path.join(root, '.merge', 'ok-7'), path.join(root, 'stray')]) {
      expect(doctor.stdout).toContain(`orphan-worktree    ${subject}`);
    }
    expect(doctor.stdout).toContain('orphan-branch      statecrew/gone');
    expect(doctor.stdout).toContain('orphan-branch      statecrew/old');
    expect(doctor.stdout).not.toContain(path.join(root, 'bad'));
    const fixed = await runCli(t.dir, 'doctor', '--fix');
    expect(fixed.stdout).toContain('orphan worktrees and branches removed:');
    expect(worktreesLeft(t)).toEqual([path.join(root, 'bad')]);
    expect(fs.readdirSync(root).sort()).toEqual(['.gitignore', '.merge', 'bad']);
    expect(git(t.repo, 'branch', '--format=%(refname:short)').split('\n').sort()).toEqual(['main', 'statecrew/bad', 'statecrew/ok']);
    expect((await runCli(t.dir, 'doctor')).code).toBe(0);
  });

  it('runs examples/workspaces.yaml: parallel milestones, a dependent one, a check repaired by a fix turn, a conflict resolved by a fix turn', async () => {
    const t = repoWith();
    const examples = path.join(t.dir, 'examples');
    fs.mkdirSync(path.join(examples, 'workspaces'), { recursive: true });
    const source = path.join(path.dirname(fixtureCommand('agent-edit.mjs')[1] ?? ''), '..', '..', 'examples');
    fs.copyFileSync(path.join(source, 'workspaces.yaml'), path.join(examples, 'workspaces.yaml'));
    for (const file of fs.readdirSync(path.join(source, 'workspaces'))) fs.copyFileSync(path.join(source, 'workspaces', file), path.join(examples, 'workspaces', file));
    const made = await runNode(t.dir, path.join(examples, 'workspaces', 'make-repo.mjs'), examples);
    expect(made.code, made.stderr).toBe(0);
    const run = await runCli(t.dir, 'run', 'examples/workspaces.yaml');
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const repo = path.join(examples, 'out', 'workspaces', 'repo');
    const merges = git(repo, 'log', '--first-parent', '--format=%s', 'main').split('\n').filter((line) => line.startsWith('statecrew: merge '));
    expect(merges).toHaveLength(6);
    const changelog = git(repo, 'show', 'main:CHANGELOG.md');
    expect(changelog).toContain('- Added a greeting.');
    expect(changelog).toContain('- Added addition.');
    expect(changelog).not.toMatch(/<<<<<<<|=======|>>>>>>>/);
    expect(git(repo, 'show', 'main:docs/usage.md')).toContain('## Examples');
    expect(git(repo, 'log', '--format=%s', 'main')).toMatch(/statecrew: docs-1 \(attempt 1, fix of the failed check\)/);
    expect(git(repo, 'log', '--format=%s', 'main')).toMatch(/statecrew: changelog-[ab]-1 \(attempt 1, fix of the merge conflict\)/);
  });

  it('exits 2 creating nothing when git cannot be run', async () => {
    const t = repoWith();
    writePlan(t.dir, { version: 1, workspace: { repo: 'repo' }, milestones: [{ id: 'app', units: [{ id: 'app-1', command: agent() }] }] });
    const run = await runCliWith(t.dir, { PATH: path.join(t.dir, 'no-git-here') }, 'run', 'plan.yaml');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('git is not installed or not on PATH; workspaces need git 2.39 or later');
    expect(fs.existsSync(path.join(t.dir, '.statecrew'))).toBe(false);
  });

  describe('bad input exits 2 and creates nothing', () => {
    const cases: [string, (t: TestRepo) => Record<string, unknown>, RegExp][] = [
      ['repo is not a git repository', () => ({ repo: 'not-a-repo' }), /workspace\.repo: not a git repository: .*not-a-repo/],
      ['base does not exist', () => ({ repo: 'repo', base: 'develop' }), /workspace\.base: branch "develop" does not exist in .*; its branches: main/],
      ['the branch pattern has no {milestone}', () => ({ repo: 'repo', branch: 'statecrew/work' }), /workspace\.branch: expected a branch name pattern containing \{milestone\}/],
      ['a milestone id makes an invalid branch name', () => ({ repo: 'repo', branch: 'x/{milestone}..y' }), /workspace\.branch: "x\/app\.\.y" is not a valid git branch name/],
    ];
    for (const [name, workspace, message] of cases) {
      it(`when ${name}`, async () => {
        const t = repoWith();
        fs.mkdirSync(path.join(t.dir, 'not-a-repo'));
        writePlan(t.dir, { version: 1, workspace: workspace(t), milestones: [{ id: 'app', units: [{ id: 'app-1', command: agent() }] }] });
        const refsBefore = git(t.repo, 'for-each-ref');
        const run = await runCli(t.dir, 'run', 'plan.yaml');
        expect(run.code).toBe(2);
        expect(run.stderr).toMatch(message);
        expect(fs.existsSync(path.join(t.dir, '.statecrew'))).toBe(false);
        expect(git(t.repo, 'for-each-ref')).toBe(refsBefore);
      });
    }
  });
});
