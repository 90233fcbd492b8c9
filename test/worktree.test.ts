import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkGitVersion } from '../actors/git.js';
import { mergeBranch, type MergeMode } from '../actors/merge.js';
import { commitWork, listWorktrees, prepareWorktree, saveChanges, type WorktreeSpec } from '../actors/worktree.js';
import { createTestRepo, git, TEST_IDENTITY, type TestRepo } from './helpers/gitRepo.js';

const repos: TestRepo[] = [];
afterEach(() => {
  for (const repo of repos.splice(0)) repo.cleanup();
});

function setup(files?: Record<string, string>): { t: TestRepo; spec: (milestone: string) => WorktreeSpec } {
  const t = createTestRepo(files);
  repos.push(t);
  const root = path.join(t.dir, 'worktrees');
  return { t, spec: (milestone) => ({ repo: t.repo, base: 'main', branch: `statecrew/${milestone}`, path: path.join(root, milestone), root }) };
}

const merge = (spec: WorktreeSpec, milestoneId: string, mode: MergeMode = 'merge', stillHeld = true) =>
  mergeBranch({ spec, milestoneId, mode, identity: TEST_IDENTITY, fencingToken: 1, stillHeld: () => Promise.resolve(stillHeld) });

describe('git worktree operations', () => {
  it('reads a git version of at least 2.39', async () => {
    expect(await checkGitVersion(process.cwd())).toMatch(/^\d+\.\d+/);
  });

  it('creates the milestone branch at the base and a worktree on it, and finds it again when prepared twice', async () => {
    const { t, spec } = setup();
    const s = spec('api');
    const main = git(t.repo, 'rev-parse', 'main');
    const first = await prepareWorktree(s, null, TEST_IDENTITY);
    expect(first).toEqual({ baseCommit: main, head: main, created: true, savedRef: null });
    expect(git(s.path, 'symbolic-ref', 'HEAD')).toBe('refs/heads/statecrew/api');
    const again = await prepareWorktree(s, first.baseCommit, TEST_IDENTITY);
    expect(again.created).toBe(false);
    expect((await listWorktrees(t.repo)).map((w) => w.branch)).toEqual(['refs/heads/main', 'refs/heads/statecrew/api']);
  });

  it('recreates a deleted worktree from its branch, keeping the commits on it', async () => {
    const { t, spec } = setup();
    const s = spec('api');
    const { baseCommit } = await prepareWorktree(s, null, TEST_IDENTITY);
    t.write('api.txt', 'v1\n', s.path);
    const { head } = await commitWork(s.path, { unitId: 'u1', attempt: 1, dispatchId: 'u1#1' }, TEST_IDENTITY);
    fs.rmSync(s.path, { recursive: true, force: true });
    const again = await prepareWorktree(s, baseCommit, TEST_IDENTITY);
    expect(again).toMatchObject({ created: true, head, baseCommit });
    expect(t.read('api.txt', s.path)).toBe('v1\n');
  });

  it('saves what a lost turn left uncommitted on a side ref and resets the worktree', async () => {
    const { t, spec } = setup();
    const s = spec('api');
    const { baseCommit } = await prepareWorktree(s, null, TEST_IDENTITY);
    t.write('half-done.txt', 'partial\n', s.path);
    t.write('README.md', 'edited\n', s.path);
    fs.writeFileSync(path.join(git(s.path, 'rev-parse', '--absolute-git-dir'), 'index.lock'), '');
    const again = await prepareWorktree(s, baseCommit, TEST_IDENTITY);
    expect(again.savedRef).toMatch(/^refs\/statecrew\/lost\/statecrew_api\//);
    expect(git(s.path, 'status', '--porcelain')).toBe('');
    expect(git(t.repo, 'show', `${again.savedRef ?? ''}:half-done.txt`)).toBe('partial');
  });

  it('commits a unit\'s work with its dispatch as a trailer, once', async () => {
    const { t, spec } = setup();
    const s = spec('api');
    await prepareWorktree(s, null, TEST_IDENTITY);
    t.write('new.txt', 'x\n', s.path);
    const first = await commitWork(s.path, { unitId: 'u1', attempt: 2, dispatchId: 'u1#3' }, TEST_IDENTITY);
    expect(first.committed).toBe(true);
    expect(git(s.path, 'log', '-1', '--format=%s%n%b')).toBe('statecrew: u1 (attempt 2)\nStatecrew-Dispatch: u1#3');
    const second = await commitWork(s.path, { unitId: 'u1', attempt: 2, dispatchId: 'u1#3' }, TEST_IDENTITY);
    expect(second).toEqual({ head: first.head, committed: false });
  });

  it('saves a failed attempt (its commits and its uncommitted files) and resets to the unit\'s starting commit', async () => {
    const { t, spec } = setup();
    const s = spec('api');
    const { head: start } = await prepareWorktree(s, null, TEST_IDENTITY);
    t.write('a.txt', 'committed by the agent\n', s.path);
    git(s.path, 'add', '-A');
    git(s.path, 'commit', '-q', '-m', 'agent commit');
    t.write('b.txt', 'left over\n', s.path);
    const ref = await saveChanges(s, 'attempts', 'u1#1', TEST_IDENTITY, start);
    expect(ref).toBe('refs/statecrew/attempts/statecrew_api/u1_1');
    expect(git(s.path, 'rev-parse', 'HEAD')).toBe(start);
    expect(fs.existsSync(path.join(s.path, 'a.txt'))).toBe(false);
    expect(fs.existsSync(path.join(s.path, 'b.txt'))).toBe(false);
    expect(git(t.repo, 'show', `${ref ?? ''}:a.txt`)).toBe('committed by the agent');
    expect(git(t.repo, 'show', `${ref ?? ''}:b.txt`)).toBe('left over');
    expect(await saveChanges(s, 'attempts', 'u1#1', TEST_IDENTITY, start)).toBeNull();
  });
});

describe('mergeBranch', () => {
  async function milestoneWith(spec: WorktreeSpec, t: TestRepo, file: string, text: string): Promise<string> {
    await prepareWorktree(spec, null, TEST_IDENTITY);
    t.write(file, text, spec.path);
    return (await commitWork(spec.path, { unitId: file, attempt: 1, dispatchId: `${file}#1` }, TEST_IDENTITY)).head;
  }

  for (const mode of ['merge', 'squash', 'rebase'] as const) {
    it(`lands two branches one after the other (${mode}), and reports an already landed branch as merged without merging it again`, async () => {
      const { t, spec } = setup();
      await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
      await milestoneWith(spec('b'), t, 'b.txt', 'b\n');
      const first = await merge(spec('a'), 'a', mode);
      expect(first).toMatchObject({ kind: 'merged', already: false });
      const second = await merge(spec('b'), 'b', mode);
      expect(second).toMatchObject({ kind: 'merged', already: false });
      expect(git(t.repo, 'show', 'main:a.txt')).toBe('a');
      expect(git(t.repo, 'show', 'main:b.txt')).toBe('b');
      const main = git(t.repo, 'rev-parse', 'main');
      expect(await merge(spec('a'), 'a', mode)).toMatchObject({ kind: 'merged', already: true, commit: main });
      expect(await merge(spec('b'), 'b', mode)).toMatchObject({ kind: 'merged', already: true, commit: main });
      expect(git(t.repo, 'rev-parse', 'main')).toBe(main);
      expect(fs.readdirSync(path.join(spec('a').root, '.merge'))).toEqual([]);
    });
  }

  it('reports the conflicting files and hunks, and moves nothing', async () => {
    const { t, spec } = setup({ 'shared.txt': 'one\n' });
    await milestoneWith(spec('a'), t, 'shared.txt', 'from a\n');
    await milestoneWith(spec('b'), t, 'shared.txt', 'from b\n');
    expect(await merge(spec('a'), 'a')).toMatchObject({ kind: 'merged' });
    const main = git(t.repo, 'rev-parse', 'main');
    const outcome = await merge(spec('b'), 'b');
    expect(outcome).toMatchObject({ kind: 'conflict', files: ['shared.txt'], baseHead: main });
    expect(outcome.kind === 'conflict' ? outcome.hunks : '').toContain(' from b');
    expect(git(t.repo, 'rev-parse', 'main')).toBe(main);
  });

  it('lands two merges started at once into one base: the ref moves only by compare-and-swap, the loser redoes its merge', async () => {
    const { t, spec } = setup();
    await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
    await milestoneWith(spec('b'), t, 'b.txt', 'b\n');
    const start = git(t.repo, 'rev-parse', 'main');
    const [a, b] = await Promise.all([
      mergeBranch({ spec: spec('a'), milestoneId: 'a', mode: 'merge', identity: TEST_IDENTITY, fencingToken: 1, stillHeld: () => Promise.resolve(true) }),
      mergeBranch({ spec: spec('b'), milestoneId: 'b', mode: 'merge', identity: TEST_IDENTITY, fencingToken: 2, stillHeld: () => Promise.resolve(true) }),
    ]);
    expect([a.kind, b.kind]).toEqual(['merged', 'merged']);
    expect(git(t.repo, 'show', 'main:a.txt')).toBe('a');
    expect(git(t.repo, 'show', 'main:b.txt')).toBe('b');
    // The reflog is one chain: each statecrew move starts where the previous one ended.
    const moves = git(t.repo, 'reflog', 'show', '--format=%H %gs', 'refs/heads/main').split('\n').reverse();
    expect(moves.map((line) => line.split(' ')[0])[0]).toBe(start);
    expect(moves.slice(1).map((line) => line.slice(41))).toEqual(
      expect.arrayContaining(['statecrew: merge a (merge lease fencing token 1)', 'statecrew: merge b (merge lease fencing token 2)']),
    );
    const second = moves[2]?.split(' ')[0] ?? '';
    expect(git(t.repo, 'rev-parse', `${second}^1`)).toBe(moves[1]?.split(' ')[0]);
  });

  it('removes a lock on the base ref that a killed git left (older than 10 s) and merges', async () => {
    const { t, spec } = setup();
    await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
    const lock = path.join(t.repo, '.git', 'refs', 'heads', 'main.lock');
    fs.writeFileSync(lock, '');
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lock, old, old);
    expect(await merge(spec('a'), 'a')).toMatchObject({ kind: 'merged', already: false });
    expect(fs.existsSync(lock)).toBe(false);
  });

  it('moves nothing when the merge lease is no longer held', async () => {
    const { t, spec } = setup();
    await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
    const main = git(t.repo, 'rev-parse', 'main');
    expect(await merge(spec('a'), 'a', 'merge', false)).toEqual({ kind: 'fenced' });
    expect(git(t.repo, 'rev-parse', 'main')).toBe(main);
  });

  it('brings a clean user checkout of the base along, keeping its uncommitted changes to other files', async () => {
    const { t, spec } = setup({ 'notes.txt': 'mine\n' });
    await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
    t.write('notes.txt', 'my uncommitted edit\n');
    expect(await merge(spec('a'), 'a')).toMatchObject({ kind: 'merged' });
    expect(t.read('a.txt')).toBe('a\n');
    expect(t.read('notes.txt')).toBe('my uncommitted edit\n');
    expect(git(t.repo, 'status', '--porcelain')).toBe('M notes.txt');
  });

  it('finishes bringing the user checkout along when a merge was killed after moving the base, before updating it', async () => {
    const { t, spec } = setup({ 'notes.txt': 'mine\n' });
    const head = await milestoneWith(spec('a'), t, 'a.txt', 'a\n');
    t.write('notes.txt', 'my uncommitted edit\n');
    // The interrupted merge: the base moved (a fast-forward, with statecrew's reflog message), the checkout did not.
    git(t.repo, 'update-ref', '-m', 'statecrew: merge a (merge lease fencing token 1)', 'refs/heads/main', head);
    expect(git(t.repo, 'status', '--porcelain')).toBe('D  a.txt\n M notes.txt');
    expect(await merge(spec('a'), 'a')).toMatchObject({ kind: 'merged', already: true });
    expect(t.read('a.txt')).toBe('a\n');
    expect(t.read('notes.txt')).toBe('my uncommitted edit\n');
    expect(git(t.repo, 'status', '--porcelain')).toBe('M notes.txt');
  });

  it('refuses to move a base whose user checkout has uncommitted changes the merge would overwrite', async () => {
    const { t, spec } = setup({ 'notes.txt': 'mine\n' });
    await milestoneWith(spec('a'), t, 'notes.txt', 'from a\n');
    t.write('notes.txt', 'my uncommitted edit\n');
    const main = git(t.repo, 'rev-parse', 'main');
    const outcome = await merge(spec('a'), 'a');
    expect(outcome).toMatchObject({ kind: 'blocked' });
    expect(outcome.kind === 'blocked' ? outcome.reason : '').toContain(`main is checked out in ${t.repo}`);
    expect(git(t.repo, 'rev-parse', 'main')).toBe(main);
    expect(t.read('notes.txt')).toBe('my uncommitted edit\n');
  });
});
