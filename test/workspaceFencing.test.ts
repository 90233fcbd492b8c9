/**
 * A workspace whose milestone lease passes on while its unit's turn runs (another holder takes
 * the milestone over with a newer fencing token): the turn's work can no longer be recorded in the
 * worktree (every workspace write but its release is fenced). In-process runtime on a real SQLite
 * file and a real git repository; the takeover is written into the ledger as another runtime's
 * claim would be.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { RuntimeEvents } from '../src/events.js';
import { parsePlan } from '../src/plan/load.js';
import type { Plan } from '../src/plan/types.js';
import { createRuntime } from '../src/runtime.js';
import { openStoreAt } from '../persistence/openStore.js';
import type { SchedulerView, SchedulerViewRequest } from '../persistence/store.js';
import type { LeaseLedgerEntry } from '../persistence/types.js';
import { createTestRepo, git, type TestRepo } from './helpers/gitRepo.js';
import { fixtureCommand } from './helpers/cli.js';

const repos: TestRepo[] = [];
afterEach(() => {
  for (const repo of repos.splice(0)) repo.cleanup();
});

/** A one-unit workspace plan whose agent writes app.txt, then waits for the file `go`. */
function setUp(): { t: TestRepo; go: string; plan: Plan; storeFile: string } {
  const t = createTestRepo();
  repos.push(t);
  const go = path.join(t.dir, 'go');
  const command = fixtureCommand('agent-edit.mjs', '--write', 'app.txt=done', '--wait-for', go);
  const plan = parsePlan(
    [
      'version: 1',
      'workers: 1',
      'defaults: { retryBackoff: 10ms, killGrace: 200ms }',
      'workspace: { repo: repo }',
      'milestones:',
      '  - id: app',
      `    units: [{ id: app-1, command: ${JSON.stringify(command)} }]`,
    ].join('\n'),
    { file: path.join(t.dir, 'plan.yaml'), cwd: t.dir },
  );
  return { t, go, plan, storeFile: path.join(t.dir, 's.db') };
}

/** Another holder takes milestone `app` over (a newer fencing token) with a lease that ends 400 ms later. */
function takeOver(storeFile: string): void {
  const raw = new Database(storeFile);
  raw.prepare("UPDATE lease_ledger SET fencing_token = fencing_token + 1, holder_id = 'elsewhere', expires_at = ? WHERE milestone_id = 'app'").run(Date.now() + 400);
  raw.close();
}

describe('a workspace whose lease passed on during a turn', () => {
  it('records nothing under the old token: the attempt is abandoned, the workspace released, and the unit runs again under the new token', async () => {
    const { t, go, plan, storeFile } = setUp();
    // A lease TTL far beyond the test: only what the pass reads from the ledger can tell the
    // runtime that its lease passed on, not a failed renewal.
    const runtime = createRuntime({ store: storeFile, leaseTtlMs: 600_000 });
    const refused: RuntimeEvents['actor.persist-failed'][] = [];
    runtime.events.on('actor.persist-failed', (event) => refused.push(event));
    let takenOver = false;
    runtime.events.on('unit.started', () => {
      if (takenOver) return;
      takenOver = true;
      // Another holder takes the milestone over (token 2) with a lease that ends 400 ms later;
      // only then does the first turn end, having written its file.
      takeOver(storeFile);
      fs.writeFileSync(go, '');
    });
    await runtime.start(plan);
    const result = await runtime.finished;
    const dispatches = await runtime.store.listDispatches('app-1');
    await runtime.store.close();

    expect(result.exitCode).toBe(0);
    expect(takenOver).toBe(true);
    // The ledger said so before anything was written: no write was refused, let alone forever.
    expect(refused.map((event) => event.error.message)).toEqual([]);
    expect(dispatches.map((d) => [d.id, d.state, d.fencingToken])).toEqual([
      ['app-1#1', 'failed', 1],
      ['app-1#2', 'completed', 3],
    ]);
    expect(dispatches[0]?.reason).toBe('abandoned: the lease of milestone app passed on (fencing token 1, now 2) before its workspace recorded the work');
    // The work landed once, from the attempt under the new token.
    expect(git(t.repo, 'show', 'main:app.txt')).toBe('done');
    expect(git(t.repo, 'log', '--format=%s', 'main', '--no-merges', '-1')).toBe('statecrew: app-1 (attempt 2)');
  }, 60_000);

  it('when the ledger moved after the pass read it: the workspace write is refused once, the workspace released, and the run goes on', async () => {
    const { t, go, plan, storeFile } = setUp();
    const real = openStoreAt(storeFile);
    // Every pass sees the ledger as it was before the takeover for as long as the other holder's
    // lease (token 2) lasts: the takeover lands between each pass's read and its commit. Only the
    // refusal of a write tells the runtime; once that lease expired, passes see the store as it is
    // (and this runtime claims the milestone back, token 3).
    let before: LeaseLedgerEntry | undefined;
    const store = new Proxy(real, {
      get(target, property) {
        if (property === 'readSchedulerView') {
          return async (request: SchedulerViewRequest): Promise<SchedulerView> => {
            const view = await target.readSchedulerView(request);
            const old = before;
            if (old === undefined) return view;
            return { ...view, ledger: view.ledger.map((entry) => (entry.milestoneId === 'app' && entry.fencingToken === old.fencingToken + 1 && (entry.expiresAt ?? 0) > Date.now() ? old : entry)) };
          };
        }
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const runtime = createRuntime({ store, leaseTtlMs: 600_000 });
    const refused: RuntimeEvents['actor.persist-failed'][] = [];
    runtime.events.on('actor.persist-failed', (event) => {
      refused.push(event);
    });
    let takenOver = false;
    runtime.events.on('unit.started', () => {
      if (takenOver) return;
      takenOver = true;
      void real.getLease('app').then((entry) => {
        before = entry;
        takeOver(storeFile);
        fs.writeFileSync(go, '');
      });
    });
    await runtime.start(plan);
    const result = await runtime.finished;
    const dispatches = await real.listDispatches('app-1');
    await real.close();

    expect(result.exitCode).toBe(0);
    // Once: the workspace's RECORD under token 1. The refusal releases the workspace (and loses
    // the lease); restored as it was, it would be asked to record again and be refused again,
    // pass after pass, for as long as the passes cannot see the takeover.
    expect(refused.map((event) => [event.actorId, event.error.name])).toEqual([['app@workspace-1', 'StaleFencingTokenError']]);
    expect(dispatches.map((d) => [d.id, d.state, d.fencingToken])).toEqual([
      ['app-1#1', 'failed', 1],
      ['app-1#2', 'completed', 3],
    ]);
    expect(dispatches[0]?.reason).toMatch(/^abandoned: /);
    expect(git(t.repo, 'show', 'main:app.txt')).toBe('done');
    expect(git(t.repo, 'log', '--format=%s', 'main', '--no-merges', '-1')).toBe('statecrew: app-1 (attempt 2)');
  }, 60_000);
});
